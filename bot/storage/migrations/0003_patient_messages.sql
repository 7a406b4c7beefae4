-- Everything a patient writes outside an answer (text, voice note, photo, document…) is kept here, append-only,
-- with what the red-flag screen found, and reaches the clinicians through the alert outbox (issue 14).
CREATE TABLE patient_messages (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients(id),
    instance_id     INTEGER REFERENCES instances(id),   -- the questionnaire open when it arrived, if any
    kind            TEXT NOT NULL,                       -- text, voice, audio, photo, video, document, sticker, other
    text            TEXT,                                -- the text, or the caption of a media
    chat_id         INTEGER NOT NULL,                    -- where it was written (to copy a media to the team)
    message_id      INTEGER NOT NULL,
    telegram_date   TEXT,
    received_at     TEXT NOT NULL,
    flags           TEXT NOT NULL DEFAULT '[]',          -- JSON list of red-flag categories found in the text
    alert_id        INTEGER REFERENCES alerts(id)
);
CREATE INDEX patient_messages_patient ON patient_messages (patient_id, received_at);
CREATE TRIGGER patient_messages_no_delete BEFORE DELETE ON patient_messages
BEGIN SELECT RAISE(ABORT, 'patient messages are never deleted'); END;

-- A rule that fired but did not alert because the same news alerted recently (rules.yaml `repeat`): kept, once per
-- questionnaire and rule, so that suppressed repeats can be counted and exported (alarm-fatigue measures).
CREATE TABLE suppressed_alerts (
    id            INTEGER PRIMARY KEY,
    patient_id    INTEGER NOT NULL REFERENCES patients(id),
    instance_id   INTEGER NOT NULL REFERENCES instances(id),
    rule_id       TEXT NOT NULL,
    fired         TEXT NOT NULL,        -- JSON: the values that made it fire
    previous_alert_id INTEGER REFERENCES alerts(id),
    created_at    TEXT NOT NULL,
    UNIQUE (instance_id, rule_id)
);

-- Which advice the patient is owed (bot.domain.rules.Advice: neuro, toxicity, fever, urgent, inclusion, same_day);
-- NULL in rows written before this migration: the advice follows the kind.
ALTER TABLE patient_notices ADD COLUMN advice TEXT;
