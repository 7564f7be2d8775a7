-- CRM API: incremental sync of calls and idempotent SMS sends (issue 19, "API for integrators").

-- Which transaction last wrote a call (insert or update). GET /api/calls?sort=updated pages by (written_xid, id) and
-- only hands out rows below the oldest transaction still running (pg_snapshot_xmin), so a call whose transaction
-- commits late is never skipped by a client that already read past its stored_at. Existing rows get 1: before all.
ALTER TABLE ct.calls ADD COLUMN written_xid xid8 NOT NULL DEFAULT '1';
ALTER TABLE ct.calls ALTER COLUMN written_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX calls_written ON ct.calls (written_xid, id);
CREATE INDEX calls_stored ON ct.calls (stored_at);

CREATE FUNCTION ct.calls_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.written_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
CREATE TRIGGER calls_written BEFORE UPDATE ON ct.calls FOR EACH ROW EXECUTE FUNCTION ct.calls_written();

-- Idempotency-Key of POST /api/sms, per enterprise: the same key with the same request answers the SMS it created; with
-- another request it is refused. Kept Sms:IdempotencyHours (24 by default), then the key may be used again.
CREATE TABLE ct.sms_idempotency (
    enterprise_id  bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256 bytea NOT NULL,                   -- of the normalised request: recipient (E.164), text, X-User-Id
    sms_id         bigint REFERENCES ct.sms_out(id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (enterprise_id, key)
);
CREATE INDEX sms_idempotency_created ON ct.sms_idempotency (created_at);
