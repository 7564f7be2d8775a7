-- Live call events (issue 15): a transactional outbox of CloudEvents written by the ingest transaction, the calls in
-- progress as the events see them, webhooks per enterprise and the delivery cursors of the event sinks.

-- One row per CloudEvent. event_id is deterministic (same change -> same id), so a replayed batch inserts nothing twice.
-- position is the commit order: assigned by the dispatcher (one at a time, advisory lock) to rows whose transaction is
-- older than every transaction still running (written_xid < the snapshot's xmin), in (written_xid, id) order, so a
-- reader that follows position never skips a row that commits late. Webhooks, the Service Bus topic and GET /api/events
-- (Last-Event-ID) all follow position.
CREATE TABLE ct.call_events_out (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,
    enterprise_id bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    pbx           text NOT NULL,
    call_key      text NOT NULL,
    type          text NOT NULL,
    call_seq      integer NOT NULL,              -- the change's ordinal within its call (CloudEvent attribute callseq)
    occurred_at   timestamptz NOT NULL,          -- the CloudEvent time (UTC)
    body          text NOT NULL,                 -- the CloudEvent, JSON structured mode, exactly as delivered
    written_xid   xid8 NOT NULL DEFAULT pg_current_xact_id(),
    position      bigint UNIQUE,                 -- null until sequenced
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_events_out_pending ON ct.call_events_out (written_xid, id) WHERE position IS NULL;
CREATE INDEX call_events_out_enterprise ON ct.call_events_out (enterprise_id, position);
CREATE INDEX call_events_out_created ON ct.call_events_out (created_at);

-- The calls in progress (GET /api/calls/active), kept by the live-events handler from the call changes.
CREATE TABLE ct.live_calls (
    pbx          text NOT NULL REFERENCES ct.pbxes(id) ON DELETE CASCADE,
    call_key     text NOT NULL,
    state        text NOT NULL,                  -- JSON of the live call (started, ringing extensions, answered by, ...)
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,                    -- set by call.ended; the row goes with call.completed
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pbx, call_key)
);

-- Webhooks per enterprise. The secret is stored encrypted (AES-256-GCM with Events:WebhookKey) because the dispatcher
-- needs it to sign; position = the last event position delivered (or passed over: another type).
CREATE TABLE ct.webhooks (
    id                   bigserial PRIMARY KEY,
    enterprise_id        bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    url                  text NOT NULL,
    types                text[],                 -- null = every type
    secret_enc           text NOT NULL,
    enabled              boolean NOT NULL DEFAULT true,
    disabled_reason      text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    position             bigint NOT NULL DEFAULT 0,
    delivered            bigint NOT NULL DEFAULT 0,
    last_success_at      timestamptz,
    last_failure_at      timestamptz,
    last_error           text,
    lease_until          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_enterprise ON ct.webhooks (enterprise_id);

-- Delivery cursors of the other sinks (the Service Bus topic).
CREATE TABLE ct.event_cursors (
    name       text PRIMARY KEY,
    position   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
