-- Initial schema. Times are UTC ISO-8601 text ("2026-11-26T13:00:00Z"); local dates are "YYYY-MM-DD".
-- Telegram ids are INTEGER (SQLite integers are 64-bit).

CREATE TABLE sites (
    code        TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

CREATE TABLE patients (
    id              INTEGER PRIMARY KEY,
    study_id        TEXT NOT NULL UNIQUE,
    site_code       TEXT NOT NULL REFERENCES sites(code),
    arm             TEXT NOT NULL CHECK (arm IN ('standard', 'experimental')),
    rt_start        TEXT NOT NULL,           -- local date of day 0 (first fraction)
    fractions       INTEGER NOT NULL CHECK (fractions IN (1, 5)),
    status          TEXT NOT NULL DEFAULT 'invited'
                    CHECK (status IN ('invited', 'joined', 'active', 'paused', 'withdrawn', 'unreachable')),
    preferred_time  TEXT NOT NULL DEFAULT 'matin' CHECK (preferred_time IN ('matin', 'midi', 'soir')),
    enrolled_at     TEXT NOT NULL,
    joined_at       TEXT,
    withdrawn_at    TEXT
);

-- The only place where a Telegram identity meets a study id: a site can export or share everything else
-- without it (pseudonymisation).
CREATE TABLE telegram_links (
    patient_id        INTEGER PRIMARY KEY REFERENCES patients(id),
    telegram_user_id  INTEGER NOT NULL UNIQUE,
    chat_id           INTEGER NOT NULL UNIQUE,
    linked_at         TEXT NOT NULL
);

CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY,
    patient_id   INTEGER NOT NULL REFERENCES patients(id),
    code_hash    TEXT NOT NULL UNIQUE,       -- sha256 of the code; the code itself is never stored
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    redeemed_at  TEXT
);

CREATE TABLE instances (
    id                     INTEGER PRIMARY KEY,
    patient_id             INTEGER NOT NULL REFERENCES patients(id),
    questionnaire_id       TEXT NOT NULL,
    questionnaire_version  TEXT NOT NULL,
    timepoint              TEXT NOT NULL,
    study_day              INTEGER,
    is_primary             INTEGER NOT NULL DEFAULT 0,
    opens_at               TEXT NOT NULL,
    closes_at              TEXT NOT NULL,
    status                 TEXT NOT NULL DEFAULT 'planned'
                           CHECK (status IN ('planned', 'sending', 'open', 'completed', 'missed', 'cancelled')),
    sent_at                TEXT,
    completed_at           TEXT,
    reminders_sent         INTEGER NOT NULL DEFAULT 0,
    last_reminder_at       TEXT,
    primary_notice_at      TEXT,
    question_message_id    INTEGER,           -- the message that shows the current question
    correcting_item        TEXT,              -- item being corrected ("Modifier ma réponse précédente")
    selection              TEXT,              -- JSON list: multiple-choice toggles not yet validated
    UNIQUE (patient_id, timepoint)
);
CREATE INDEX instances_due ON instances (status, opens_at);

-- Append-only: a correction is a new row; the current answer to an item is its newest row.
CREATE TABLE answers (
    id             INTEGER PRIMARY KEY,
    instance_id    INTEGER NOT NULL REFERENCES instances(id),
    item_id        TEXT NOT NULL,
    value          TEXT NOT NULL,             -- JSON
    answered_at    TEXT NOT NULL,             -- when the patient answered (Telegram date or receipt time)
    received_at    TEXT NOT NULL,             -- when the bot stored it
    is_correction  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX answers_instance ON answers (instance_id, item_id, id);
CREATE TRIGGER answers_no_update BEFORE UPDATE ON answers
BEGIN SELECT RAISE(ABORT, 'answers are append-only: store a correction as a new row'); END;
CREATE TRIGGER answers_no_delete BEFORE DELETE ON answers
BEGIN SELECT RAISE(ABORT, 'answers are append-only'); END;

-- Audit trail (ICH E6(R3), 21 CFR Part 11): who, what, old/new value, UTC time, Telegram message date.
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    actor          TEXT NOT NULL,             -- 'patient:<study_id>', 'clinician:<telegram id>', 'system', 'cli', 'stranger:<telegram id>'
    action         TEXT NOT NULL,
    patient_id     INTEGER REFERENCES patients(id),
    entity         TEXT,
    entity_id      TEXT,
    old_value      TEXT,
    new_value      TEXT,
    telegram_date  TEXT,
    details        TEXT
);
CREATE INDEX audit_actor_action ON audit_log (actor, action, at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Outbox of alerts to the clinicians: written in the same transaction as the answer that raised them.
CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY,
    patient_id       INTEGER NOT NULL REFERENCES patients(id),
    instance_id      INTEGER REFERENCES instances(id),
    rule_id          TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('urgent', 'same_day', 'info')),
    payload          TEXT NOT NULL,           -- JSON: title, source, fired answers, trend
    created_at       TEXT NOT NULL,
    next_attempt_at  TEXT,                    -- NULL: nothing to send (info alerts wait for the digest)
    attempts         INTEGER NOT NULL DEFAULT 0,
    delivered_at     TEXT,
    message_id       INTEGER,
    sends            INTEGER NOT NULL DEFAULT 0,  -- how many times Telegram accepted it (1 + re-alerts)
    acknowledged_at  TEXT,
    acknowledged_by  INTEGER,
    digested_at      TEXT
);
CREATE INDEX alerts_pending ON alerts (delivered_at, next_attempt_at);

-- Updates already handled, so a duplicate update_id (redelivered after a restart) is processed once.
CREATE TABLE processed_updates (
    update_id     INTEGER PRIMARY KEY,
    processed_at  TEXT NOT NULL
);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
