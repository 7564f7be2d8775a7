-- Relay heartbeats (issue 6): the last heartbeat of each relay and the PBX connection states it reported.
-- (Written as 0002_relay_heartbeats, beside 0002_routing; renumbered 0008: the Migrator renames it in the journal of
-- databases that applied it under the old name, so it is not applied twice. It depends on nothing after 0001.)
CREATE TABLE ct.relays (
    relay_id          text PRIMARY KEY,
    version           text NOT NULL,
    last_seen_at      timestamptz NOT NULL,          -- when the functions app received the newest heartbeat
    sent_at           timestamptz NOT NULL,          -- the relay's clock when it sent it
    frames_sent       bigint NOT NULL DEFAULT 0,
    outbox_depth      bigint NOT NULL DEFAULT 0,
    outbox_oldest_at  timestamptz,
    outbox_at_cap     boolean NOT NULL DEFAULT false
);

CREATE TABLE ct.pbx_status (
    relay_id         text NOT NULL REFERENCES ct.relays(relay_id) ON DELETE CASCADE,
    pbx              text NOT NULL,
    state            text NOT NULL,                  -- connected, logging in, refused: <reason>, backing off: <reason>, ...
    since            timestamptz NOT NULL,
    last_frame_at    timestamptz,
    frames_received  bigint NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (relay_id, pbx)
);
