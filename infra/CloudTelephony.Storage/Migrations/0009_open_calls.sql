-- Incremental correlation state (issue 13): a batch reads and writes only the calls it touches.
-- ct.correlator_state keeps the stream-level state of a PBX (watermarks, clock: a small JSON document, format 2) and a
-- version that every committed batch increments, so an instance that cached the PBX's stream engine knows whether
-- another instance wrote since. Each open call is a row of its own. A database written before this keeps its format-1
-- document in correlator_state.state until the PBX's next batch rewrites it (the functions app reads both).
ALTER TABLE ct.correlator_state ADD COLUMN version bigint NOT NULL DEFAULT 0;

CREATE TABLE ct.open_calls (
    pbx         text NOT NULL REFERENCES ct.pbxes(id) ON DELETE CASCADE,
    call_key    text NOT NULL,
    state       text NOT NULL,                   -- the protocol interpreter's JSON of the call
    deadline    timestamptz,                     -- stream time when it is due without frames (timeouts, graces); null = never
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pbx, call_key)
);
CREATE INDEX open_calls_due ON ct.open_calls (pbx, deadline);

-- Any protocol the functions app registers (Telephony PbxProtocols) is accepted; the database checks only the name's form.
ALTER TABLE ct.pbxes DROP CONSTRAINT IF EXISTS pbxes_protocol_check;
ALTER TABLE ct.pbxes ADD CONSTRAINT pbxes_protocol_name CHECK (protocol ~ '^[a-z][a-z0-9-]{0,31}$');
