-- Stamps taken when a questionnaire is SENT, not when it is planned (issue 17): the version loaded at that moment
-- (instances.questionnaire_version is overwritten then) and a hash of the whole questionnaire as shown
-- (wording, choices, conditions). The text itself is kept once per hash, so an upgraded questionnaire file never
-- changes what earlier answers say they were asked.
ALTER TABLE instances ADD COLUMN questionnaire_hash TEXT;
CREATE TABLE questionnaire_texts (
    hash              TEXT PRIMARY KEY,
    questionnaire_id  TEXT NOT NULL,
    version           TEXT NOT NULL,
    body              TEXT NOT NULL,      -- canonical JSON of the questionnaire (bot.domain.questionnaire.canonical_text)
    first_sent_at     TEXT NOT NULL
);

-- The radiotherapy as delivered (issue 17): a clinician records the actual last fraction (/fraction); the flare
-- window (10 days after the last fraction, pain-response.md) and the patient table use it when known.
ALTER TABLE patients ADD COLUMN last_fraction_on TEXT;
ALTER TABLE patients ADD COLUMN fractions_delivered INTEGER;

-- Intercurrent events recorded by clinicians (/event), listed per patient in the trial report. Append-only.
CREATE TABLE intercurrent_events (
    id           INTEGER PRIMARY KEY,
    patient_id   INTEGER NOT NULL REFERENCES patients(id),
    kind         TEXT NOT NULL CHECK (kind IN ('reirradiation', 'surgery', 'cementoplasty', 'steroids',
                                               'systemic', 'death', 'withdrawal')),
    occurred_on  TEXT NOT NULL,
    note         TEXT,
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX intercurrent_events_patient ON intercurrent_events (patient_id, occurred_on);
