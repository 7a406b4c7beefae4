-- Issue 39 (item 5): a questionnaire being sent is claimed by the replica sending it. `sending` already marked the
-- claim (with `sent_at` as the time it was taken); `claimed_by` says whose it is, so that a replica restarting
-- re-queues only its own unsent claims (never another live replica's send in flight), and another replica re-queues
-- them once the claim is older than `bot.scheduling.dispatcher.SEND_CLAIM`. A claim whose question message id was
-- recorded was sent: it is opened, never sent again.
ALTER TABLE instances ADD COLUMN claimed_by TEXT;
