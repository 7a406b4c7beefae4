-- What the patient must be told after a worrying answer ("call 15 or 112 now", "the team will call you today"),
-- kept like the clinicians' alerts: stored with the answer, sent after the commit, retried until Telegram takes it.
CREATE TABLE patient_notices (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients(id),
    instance_id     INTEGER REFERENCES instances(id),
    kind            TEXT NOT NULL CHECK (kind IN ('urgent', 'same_day')),
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,            -- NULL once sent, or given up (see expires_at)
    expires_at      TEXT NOT NULL    -- advice this old is no longer "now": the clinicians' alert carries on
);
CREATE INDEX patient_notices_due ON patient_notices (next_attempt_at);
