-- Issue 19: several bot replicas on one database, nothing done twice.
--
-- leases: a periodic job (the tick, the digest) runs on one replica at a time. A replica takes the lease for a
-- while (`held_until`, on the bot's clock) and gives it back when done; a replica that died loses it when it
-- expires. The tick needs it for Telegram's sake too: the ≈ 30 messages/s for bulk sends is per bot, not per
-- replica.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,   -- tick, digest
    holder      TEXT NOT NULL,      -- the replica's id (BOT_REPLICA_ID)
    held_until  TEXT NOT NULL
);

-- Outbox rows are claimed by the replica about to send them, until `claimed_until`: another replica's pass skips
-- them, and takes them over if the claimant died before recording the outcome (at least once, never lost).
ALTER TABLE alerts ADD COLUMN claimed_by TEXT;
ALTER TABLE alerts ADD COLUMN claimed_until TEXT;
ALTER TABLE patient_notices ADD COLUMN claimed_by TEXT;
ALTER TABLE patient_notices ADD COLUMN claimed_until TEXT;
