-- Issue 36: caregivers. A relative (separate Telegram account) may answer for a patient too tired to answer, and every
-- answer says who gave it.
--
-- caregivers: one row per invitation (at most two not ended per patient, enforced by the service). `number` names
-- the caregiver in the exports and to the team ("aidant 1"): the Telegram identity never leaves this table.
--   status: invited (link not used yet), joined (link used, consent not given), active (consented), ended.
CREATE TABLE caregivers (
    id                INTEGER PRIMARY KEY,
    patient_id        INTEGER NOT NULL REFERENCES patients(id),
    number            INTEGER NOT NULL,
    status            TEXT NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'joined', 'active', 'ended')),
    code_hash         TEXT NOT NULL UNIQUE,  -- sha256 of the invitation code; the code itself is never stored
    telegram_user_id  INTEGER,
    chat_id           INTEGER,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    joined_at         TEXT,
    consented_at      TEXT,
    consent_text      TEXT,                  -- the information and consent text as shown, kept with its time
    ended_at          TEXT,
    ended_by          TEXT,                  -- patient, team, caregiver, withdrawal (and the audit trail names who)
    UNIQUE (patient_id, number)
);
CREATE INDEX caregivers_user ON caregivers (telegram_user_id);

-- Who gave each answer: the patient or a caregiver (and which). `source` keeps saying through which channel it came
-- (a chat of the follow-up, or a nurse on the phone).
ALTER TABLE answers ADD COLUMN respondent TEXT NOT NULL DEFAULT 'patient' CHECK (respondent IN ('patient', 'caregiver'));
ALTER TABLE answers ADD COLUMN caregiver_id INTEGER REFERENCES caregivers(id);

-- The first person who answers a questionnaire holds it: 'patient' or 'caregiver:<id>'; NULL until the first answer.
ALTER TABLE instances ADD COLUMN held_by TEXT;

-- The automatic offer to the caregivers (once per questionnaire), and advice owed to a caregiver rather than to the
-- patient (a red flag the caregiver reported: "call 15 for your relative").
CREATE TABLE caregiver_offers (
    instance_id   INTEGER PRIMARY KEY REFERENCES instances(id),
    offered_at    TEXT NOT NULL
);
ALTER TABLE patient_notices ADD COLUMN caregiver_id INTEGER REFERENCES caregivers(id);

-- A message the caregiver wrote to the team (kept with the patient's, labelled: the exports say who wrote it).
ALTER TABLE patient_messages ADD COLUMN caregiver_id INTEGER REFERENCES caregivers(id);
