-- Issue 39, item 4: a recorded death ends all contact at once, and a wrong entry can be corrected.
--
-- 1. The patient status 'deceased'. SQLite cannot alter a CHECK, and rebuilding `patients` is impossible inside
--    the migration's transaction (every table refers to it and foreign keys are on). Widening a CHECK changes no
--    stored row, so the table's SQL text is edited in place, the documented way (sqlite.org/lang_altertable.html,
--    "making other kinds of table schema changes", the simpler procedure): creating the tables below changes the
--    schema cookie, so every other connection reads the new text, and RESET makes this one read it too.
PRAGMA writable_schema=ON;
UPDATE sqlite_master SET sql = replace(sql, '''withdrawn'', ''unreachable'')',
                                       '''withdrawn'', ''unreachable'', ''deceased'')')
 WHERE type = 'table' AND name = 'patients';
PRAGMA writable_schema=OFF;

-- 2. A correction of an intercurrent event (a death recorded by mistake): a new row, the event itself is never
--    changed. A corrected event is no longer counted in the report.
CREATE TABLE intercurrent_corrections (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL UNIQUE REFERENCES intercurrent_events(id),
    reason       TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);

-- 3. What a recorded death cancelled (the questionnaires not yet finished, with their status then), so that a
--    correction gives back those whose window is still open.
CREATE TABLE death_cancellations (
    event_id         INTEGER NOT NULL REFERENCES intercurrent_events(id),
    instance_id      INTEGER NOT NULL REFERENCES instances(id),
    previous_status  TEXT NOT NULL,
    PRIMARY KEY (event_id, instance_id)
);

PRAGMA writable_schema=RESET;
