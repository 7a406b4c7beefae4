-- Issue 32 (items 1 and 7): an urgent alert never fades, and every copy of it tells one story.
--
-- alert_steps: each rung an alert reached, in order: 'first' (the first post in the group), 'reminder' (a numbered
-- re-post), 'on_call' (re-posted naming the site's on-call clinicians), 'patient' (the patient told the team has not
-- yet seen it; the group is told too). `message_id`: the group message of that rung (every copy, so that all of
-- them can show "Pris en charge" once someone took the alert); `tidied_at`: when that copy was edited to say so
-- (NULL while it still shows the "Pris en charge" button). The telemonitoring report reads the rungs to count the
-- time to acknowledgement per step.
CREATE TABLE alert_steps (
    id          INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL REFERENCES alerts(id),
    step        TEXT NOT NULL CHECK (step IN ('first', 'reminder', 'on_call', 'patient')),
    at          TEXT NOT NULL,
    message_id  INTEGER,
    tidied_at   TEXT
);
CREATE INDEX alert_steps_alert ON alert_steps (alert_id, id);
CREATE INDEX alert_steps_untidied ON alert_steps (tidied_at, alert_id);

-- Who pressed "Pris en charge", as Telegram showed their name (the other copies say it too).
ALTER TABLE alerts ADD COLUMN acknowledged_name TEXT;
