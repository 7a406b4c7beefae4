-- Issue 17: the analgesic regimen a clinician records (/traitement), and the stamps of every derived OMED.
--
-- clinician_regimens: append-only; the newest row of a patient is the regimen the team recorded. `reason` is
-- required. `shown_instance_id` is the questionnaire in which the patient is asked to confirm it (set when that
-- questionnaire is sent); the patient's answer (item team_regimen_ok) is in `answers` like any other.
CREATE TABLE clinician_regimens (
    id                 INTEGER PRIMARY KEY,
    patient_id         INTEGER NOT NULL REFERENCES patients(id),
    regimen            TEXT NOT NULL,      -- JSON of bot.domain.omed.Regimen (source "clinician")
    reason             TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    recorded_by        TEXT NOT NULL,
    recorded_at        TEXT NOT NULL,
    shown_instance_id  INTEGER REFERENCES instances(id)
);
CREATE INDEX clinician_regimens_patient ON clinician_regimens (patient_id, id);

-- omed_stamps: the OMED of a questionnaire as derived when it was completed (one row per conversion table of the
-- catalogue), with the versions that derived it: opioids.yaml `version`, the table id and the rules stamp. An
-- export uses the stamped mg while the regimen it was derived from is unchanged (bot.export.dataset), so a later
-- opioids.yaml never silently re-labels an old OMED. Append-only: a correction adds a row, the newest counts.
CREATE TABLE omed_stamps (
    id                 INTEGER PRIMARY KEY,
    instance_id        INTEGER NOT NULL REFERENCES instances(id),
    table_id           TEXT NOT NULL,
    catalogue_version  TEXT NOT NULL,
    rules_version      TEXT NOT NULL,
    regimen            TEXT NOT NULL,      -- canonical JSON of the regimen converted
    mg                 REAL,               -- NULL: not computable (an unconverted line)
    details            TEXT NOT NULL,      -- JSON: unconverted, to_confirm, carried_forward, source
    derived_at         TEXT NOT NULL
);
CREATE INDEX omed_stamps_instance ON omed_stamps (instance_id, table_id, id);
