-- Issue 19: the audit trail is a record, never business state. Three decisions read it until now; each gets the
-- state it needs, and the audit rows go on being written as before (they are the record).
--
-- start_attempts: every refused /start of a Telegram user not linked to a patient (the rate limit counts them in
-- the window; `update_id` makes an update handled again after a crash count once). NULL update_id: a refusal
-- outside an update (never deduplicated; NULLs are distinct in a UNIQUE constraint in SQLite and PostgreSQL).
CREATE TABLE start_attempts (
    id                INTEGER PRIMARY KEY,
    telegram_user_id  INTEGER NOT NULL,
    update_id         INTEGER UNIQUE,
    reason            TEXT NOT NULL,      -- missing, unknown, used, expired
    attempted_at      TEXT NOT NULL
);
CREATE INDEX start_attempts_user ON start_attempts (telegram_user_id, attempted_at);

-- The refusals already audited, so the rate limit and the replay guard hold across the upgrade.
INSERT INTO start_attempts (telegram_user_id, update_id, reason, attempted_at)
SELECT CAST(substr(actor, 10) AS INTEGER),
       CASE WHEN entity = 'update' THEN CAST(entity_id AS INTEGER) END,
       'audited', at
FROM audit_log WHERE action = 'start_refused' AND actor LIKE 'stranger:%'
ON CONFLICT DO NOTHING;

-- information_confirmations: which information message a patient confirmed ("I have read and understood"), so a
-- double tap on the same message changes nothing while a press on a new one asks again. message_id 0: the press
-- came without its message (Telegram message ids start at 1).
CREATE TABLE information_confirmations (
    patient_id    INTEGER NOT NULL REFERENCES patients(id),
    message_id    INTEGER NOT NULL,
    confirmed_at  TEXT NOT NULL,
    PRIMARY KEY (patient_id, message_id)
);

-- The confirmations already audited (details is '{"message_id": N}' or '{"message_id": null}').
INSERT INTO information_confirmations (patient_id, message_id, confirmed_at)
SELECT patient_id,
       CASE WHEN details = '{"message_id": null}' THEN 0
            ELSE CAST(replace(replace(details, '{"message_id": ', ''), '}', '') AS INTEGER) END,
       MIN(at)
FROM audit_log WHERE action = 'information_understood' AND patient_id IS NOT NULL AND details IS NOT NULL
GROUP BY patient_id, details
ON CONFLICT DO NOTHING;

-- patients.resume_status: the status an unreachable patient gets back when they write again (set when they are
-- marked unreachable; NULL otherwise).
ALTER TABLE patients ADD COLUMN resume_status TEXT;

UPDATE patients SET resume_status = (
    SELECT replace(a.old_value, '"', '') FROM audit_log a
    WHERE a.patient_id = patients.id AND a.action = 'unreachable' ORDER BY a.id DESC LIMIT 1
) WHERE status = 'unreachable';
