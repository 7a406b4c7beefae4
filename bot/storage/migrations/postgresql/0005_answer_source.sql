-- Who gave an answer (issue 16): the patient in their chat, or a research nurse entering it by phone from the
-- clinicians' group (/saisie). Stamped on every row, exported (CSV and FHIR), and in the audit trail.
ALTER TABLE answers ADD COLUMN source TEXT NOT NULL DEFAULT 'patient' CHECK (source IN ('patient', 'phone'));
