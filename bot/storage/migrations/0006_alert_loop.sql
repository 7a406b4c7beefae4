-- Issue 15: alerts a nurse can trust.
-- One open alert per rule and patient: a new occurrence of the same news while the alert is open updates it
-- (how many times, when last, with which values) instead of sending a new message.
ALTER TABLE alerts ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN last_occurrence_at TEXT;
ALTER TABLE alerts ADD COLUMN latest_fired TEXT;           -- JSON: the values of the newest occurrence
-- Why a firing did not alert: 'repeat' (rules.yaml repeat window), 'open' (merged into the open alert of the same
-- rule), 'acknowledged' (no worse than at the last acknowledged alert of the rule).
ALTER TABLE suppressed_alerts ADD COLUMN reason TEXT NOT NULL DEFAULT 'repeat';

-- The closed loop: what the team did after "Pris en charge" (kind 'action') and what it turned out to be (kind
-- 'outcome'). Append-only: a correction is a new row; the newest row of a kind is the current answer.
CREATE TABLE alert_followups (
    id           INTEGER PRIMARY KEY,
    alert_id     INTEGER NOT NULL REFERENCES alerts(id),
    kind         TEXT NOT NULL CHECK (kind IN ('action', 'outcome')),
    code         TEXT NOT NULL,
    recorded_by  INTEGER NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX alert_followups_alert ON alert_followups (alert_id, kind, id);
CREATE TRIGGER alert_followups_no_update BEFORE UPDATE ON alert_followups
BEGIN SELECT RAISE(ABORT, 'alert follow-ups are append-only'); END;
CREATE TRIGGER alert_followups_no_delete BEFORE DELETE ON alert_followups
BEGIN SELECT RAISE(ABORT, 'alert follow-ups are append-only'); END;
