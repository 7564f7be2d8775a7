-- Live call events (issue 15): an event row is written by the ingest transaction with no position and gets one when the
-- dispatcher sequences it. The indexes on position only serve sequenced rows (readers follow position > cursor), so
-- they leave the unsequenced ones out: an ingest transaction's insert then maintains two indexes fewer per event.
ALTER TABLE ct.call_events_out DROP CONSTRAINT call_events_out_position_key;
CREATE UNIQUE INDEX call_events_out_position ON ct.call_events_out (position) WHERE position IS NOT NULL;
DROP INDEX ct.call_events_out_enterprise;
CREATE INDEX call_events_out_enterprise ON ct.call_events_out (enterprise_id, position) WHERE position IS NOT NULL;
