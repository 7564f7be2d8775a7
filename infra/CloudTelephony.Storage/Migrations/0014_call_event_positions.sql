-- Live call events (issue 15): the positions (commit order) move out of the event rows into a narrow table.
-- Sequencing used to UPDATE every event row (a new version of the whole CloudEvent and of each index entry: as much
-- write-ahead log as the insert); now the sequencer only appends (position, event) rows. An event row is written once
-- by the ingest transaction and never changed.
--
-- The sequencer continues after the newest position's (written_xid, event): rows whose transaction is older than every
-- transaction still running (written_xid < the snapshot's xmin) are final, and any row that commits later has a
-- written_xid at least that xmin, so following (written_xid, id) order past that point never skips a row. The newest
-- position is never pruned (it is the sequencer's cursor and keeps positions increasing).
CREATE TABLE ct.call_event_positions (
    position      bigint PRIMARY KEY,
    event         bigint NOT NULL,               -- ct.call_events_out.id (pruned with it, no foreign key)
    written_xid   xid8 NOT NULL,                 -- the event's written_xid
    enterprise_id bigint NOT NULL
);
CREATE INDEX call_event_positions_enterprise ON ct.call_event_positions (enterprise_id, position);

-- rows not sequenced yet all follow the newest sequenced one in (written_xid, id) order (the old sequencer went in
-- that order too), so they are picked up where it stopped
INSERT INTO ct.call_event_positions (position, event, written_xid, enterprise_id)
SELECT position, id, written_xid, enterprise_id FROM ct.call_events_out WHERE position IS NOT NULL;

DROP INDEX ct.call_events_out_pending;
CREATE INDEX call_events_out_order ON ct.call_events_out (written_xid, id);
ALTER TABLE ct.call_events_out DROP COLUMN position; -- with its unique constraint and call_events_out_enterprise
