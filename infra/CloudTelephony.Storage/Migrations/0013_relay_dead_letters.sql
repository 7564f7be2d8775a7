-- Relay dead letters (issue 18): the heartbeat's deadLetters / deadLetterOldestAt — envelopes the receiver refused with
-- "do not retry" (HTTP 400/413/422) that the relay set aside in its outbox's dead_letters table. Shown in /api/health
-- (a relay with dead letters makes the status degraded) and in ./ct admin relay list.
ALTER TABLE ct.relays
    ADD COLUMN dead_letters          bigint NOT NULL DEFAULT 0,
    ADD COLUMN dead_letter_oldest_at timestamptz;
