-- Issues 31 and 39: every word a patient sends reaches the clinicians' group, and every media copy is retried.
--
-- group_posts: an outbox of posts to the group that are not alerts of their own, delivered by the alert worker with
-- the same retries and back-off (bot.delivery.worker):
--   words     the texts held by burst control (and stray words typed beside a button question), several in one post
--             ("3 autres messages de P-001 : …"), sent when the burst window allows;
--   followup  a red flag of a danger group whose alert is still open: the words posted at once under that alert;
--   copy      a voice note, photo, video, sticker… copied (copyMessage) under its alert or its post.
CREATE TABLE group_posts (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients(id),
    kind            TEXT NOT NULL,                    -- words, followup, copy
    severity        TEXT NOT NULL,                    -- urgent, same_day, info: the back-off of the retries
    alert_id        INTEGER REFERENCES alerts(id),    -- the alert it follows (replies to), if any
    parent_post_id  INTEGER REFERENCES group_posts(id), -- a copy posted under a words or followup post
    message_ref     INTEGER REFERENCES patient_messages(id), -- copy: the patient's message copied
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT,                             -- NULL once sent
    attempts        INTEGER NOT NULL DEFAULT 0,
    sent_at         TEXT,
    message_id      INTEGER,                          -- the post in the group
    claimed_by      TEXT,
    claimed_until   TEXT
);
CREATE INDEX group_posts_due ON group_posts (next_attempt_at);
CREATE INDEX group_posts_patient ON group_posts (patient_id, kind, sent_at);

-- Which post carries a message's words to the group (NULL: its own alert carries them, or, for a number typed as
-- an out-of-range answer, nothing does: it is kept, not forwarded).
ALTER TABLE patient_messages ADD COLUMN post_id INTEGER REFERENCES group_posts(id);
