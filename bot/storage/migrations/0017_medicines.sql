-- Issue 37: medicines from a photo of the box.
--
-- bdpm_*: the three files of the French public drug database (BDPM) a site downloads, loaded by
-- `python -m bot medicines import DIR` (bot/storage/medicines.py). Each import replaces the previous one in one
-- transaction (idempotent, refreshable); bdpm_files keeps each file's date and detected encoding.
CREATE TABLE bdpm_products (
    cis     TEXT PRIMARY KEY,
    name    TEXT NOT NULL,             -- dénomination, e.g. "SKENAN L.P. 30 mg, microgranules … en gélule"
    form    TEXT NOT NULL,             -- forme pharmaceutique
    routes  TEXT NOT NULL              -- voies d'administration, ";"-separated
);
CREATE TABLE bdpm_presentations (
    cip13   TEXT PRIMARY KEY,
    cis     TEXT NOT NULL,
    cip7    TEXT NOT NULL,
    label   TEXT NOT NULL              -- libellé de la présentation (the box: "14 gélules…")
);
CREATE INDEX bdpm_presentations_cis ON bdpm_presentations (cis);
CREATE TABLE bdpm_compositions (
    cis            TEXT NOT NULL,
    position       INTEGER NOT NULL,   -- the row's order in the file for this CIS
    element        TEXT NOT NULL,      -- "gélule", "comprimé"…
    substance_code TEXT NOT NULL,
    substance      TEXT NOT NULL,
    strength       TEXT NOT NULL,      -- "30 mg"
    reference      TEXT NOT NULL,      -- "une gélule"
    nature         TEXT NOT NULL,      -- SA (active substance) or FT (therapeutic fraction)
    link           TEXT NOT NULL,
    PRIMARY KEY (cis, position)
);
CREATE TABLE bdpm_files (
    name        TEXT PRIMARY KEY,      -- CIS_bdpm.txt, CIS_CIP_bdpm.txt, CIS_COMPO_bdpm.txt
    encoding    TEXT NOT NULL,         -- as detected: utf-8, cp1252 or latin-1
    file_date   TEXT NOT NULL,         -- YYYY-MM-DD: the file's date, i.e. the BDPM publication used
    row_count   INTEGER NOT NULL,
    imported_at TEXT NOT NULL
);

-- A photo of a box sent while a product question was open: only the code is kept (never the photo).
--   status: proposed (asked "is it this medicine?"), confirmed (its product answer is answer_id), declined,
--           unknown_cip (not in the BDPM), not_in_list (in the BDPM, not a product of the open question: a
--           non-opioid, a rescue product for a background question…), no_code, several_codes.
CREATE TABLE medicine_scans (
    id                INTEGER PRIMARY KEY,
    patient_id        INTEGER NOT NULL REFERENCES patients(id),
    instance_id       INTEGER NOT NULL REFERENCES instances(id),
    item_id           TEXT NOT NULL,
    status            TEXT NOT NULL,
    cip13             TEXT,
    expiry            TEXT,            -- YYYY-MM-DD, from the code (GS1 AI 17)
    lot               TEXT,            -- GS1 AI 10
    product_code      TEXT,            -- questionnaires/opioids.yaml code, NULL when none matched
    display           TEXT,            -- what the patient was shown ("Skenan LP 30 mg, gélule")
    bdpm_date         TEXT,            -- file_date of CIS_CIP_bdpm.txt at the lookup
    answer_id         INTEGER REFERENCES answers(id),
    created_at        TEXT NOT NULL,
    decided_at        TEXT
);
CREATE INDEX medicine_scans_instance ON medicine_scans (instance_id, item_id, id);
