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
