-- Foundation schema (DESIGN.md "Data model"). All times timestamptz (UTC); durations in seconds.
CREATE SCHEMA IF NOT EXISTS ct;

CREATE TABLE ct.enterprises (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    time_zone   text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The enterprise that PBXes nobody registered yet are filed under (single-box installs, first contact).
INSERT INTO ct.enterprises (name) VALUES ('default');

CREATE TABLE ct.pbxes (
    id             text PRIMARY KEY,                 -- the relay's PBX id
    enterprise_id  bigint NOT NULL REFERENCES ct.enterprises(id),
    protocol       text NOT NULL CHECK (protocol IN ('ctip', 'ami', 'smdr')),
    name           text,
    time_zone      text NOT NULL DEFAULT 'UTC',      -- IANA id; converts PBX local times (SMDR) to UTC
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pbxes_enterprise ON ct.pbxes (enterprise_id);

CREATE TABLE ct.extensions (
    enterprise_id  bigint NOT NULL REFERENCES ct.enterprises(id),
    ext            text NOT NULL,
    internal_id    text,                             -- PBX-internal id used in generated dialplan contexts
    user_name      text,
    PRIMARY KEY (enterprise_id, ext)
);

CREATE TABLE ct.api_tokens (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES ct.enterprises(id),
    token_sha256   bytea NOT NULL UNIQUE,
    scope          text NOT NULL CHECK (scope IN ('routing', 'crm', 'relay')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

-- Every frame a relay sent, verbatim; never dropped, even when it does not parse.
CREATE TABLE ct.frames (
    pbx          text NOT NULL,
    session      text NOT NULL,
    seq          bigint NOT NULL,
    received_at  timestamptz NOT NULL,
    text         text NOT NULL,
    parse_error  text,                               -- null when it parsed
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pbx, session, seq)
);
CREATE INDEX frames_pbx_received ON ct.frames (pbx, received_at);

-- Correlation state of one PBX stream (open calls, per-session watermarks), so any instance can continue it.
-- The row is locked (FOR UPDATE) for the length of an ingest transaction: one writer per PBX at a time.
CREATE TABLE ct.correlator_state (
    pbx          text PRIMARY KEY REFERENCES ct.pbxes(id),
    state        text NOT NULL,                      -- the correlator's own JSON
    open_calls   int NOT NULL DEFAULT 0,
    frames_total bigint NOT NULL DEFAULT 0,          -- frames stored for this PBX
    parse_errors bigint NOT NULL DEFAULT 0,          -- of which did not parse
    last_frame_at timestamptz,                       -- receive time (stream time) of the newest frame
    last_ingest_at timestamptz,                      -- wall time when frames last arrived; stream "now" = last_frame_at + (now() - last_ingest_at)
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ct.calls (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pbx            text NOT NULL REFERENCES ct.pbxes(id),
    call_key       text NOT NULL,
    direction      text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    status         text NOT NULL CHECK (status IN ('answered', 'missed', 'busy', 'failed', 'voicemail', 'unknown')),
    missed_reason  text,
    caller         text,
    caller_name    text,
    called         text,
    answered_by    text,
    extensions     text[] NOT NULL DEFAULT '{}',
    trunk          text,
    started_at     timestamptz NOT NULL,
    answered_at    timestamptz,
    ended_at       timestamptz NOT NULL,
    ring_seconds   numeric(12, 3) NOT NULL,
    talk_seconds   numeric(12, 3) NOT NULL,
    transfers      jsonb NOT NULL DEFAULT '[]',
    ivr_digits     text,
    stored_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pbx, call_key)
);
CREATE INDEX calls_started ON ct.calls (started_at DESC, id DESC);
CREATE INDEX calls_pbx_started ON ct.calls (pbx, started_at DESC);
CREATE INDEX calls_caller ON ct.calls (caller);
CREATE INDEX calls_extensions ON ct.calls USING gin (extensions);

CREATE TABLE ct.call_participants (
    call_id      bigint NOT NULL REFERENCES ct.calls(id) ON DELETE CASCADE,
    ordinal      int NOT NULL,
    endpoint     text NOT NULL,
    role         text NOT NULL,
    rang_at      timestamptz,
    answered_at  timestamptz,
    ended_at     timestamptz,
    outcome      text,
    PRIMARY KEY (call_id, ordinal)
);

CREATE TABLE ct.call_events (
    call_id   bigint NOT NULL REFERENCES ct.calls(id) ON DELETE CASCADE,
    ordinal   int NOT NULL,
    at        timestamptz NOT NULL,
    kind      text NOT NULL,
    endpoint  text,
    detail    text,
    session   text NOT NULL,
    seq       bigint NOT NULL,
    PRIMARY KEY (call_id, ordinal)
);
