-- Updates fetched from Telegram but not yet handled (issue 21): stored before their getUpdates offset is confirmed
-- (or before the webhook is answered), removed when handled (`processed_updates` then remembers the id), and handled
-- again after a crash. Rows live seconds; a backlog is what a crash leaves here.
CREATE TABLE inbox (
    update_id    BIGINT PRIMARY KEY,
    payload      TEXT NOT NULL,     -- the update's JSON as Telegram sent it (Update.to_dict())
    received_at  TEXT NOT NULL
);
