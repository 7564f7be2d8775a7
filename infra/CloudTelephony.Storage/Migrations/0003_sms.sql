-- SMS: per-enterprise settings, rules (the Slican collector's ivr_map, generalised) and the outbox (issue 8).
-- All times timestamptz (UTC); night hours are local times in the enterprise's time zone (ct.enterprises.time_zone).

-- SMS settings of an enterprise; an enterprise without a row uses the defaults (region from configuration, no night hours).
CREATE TABLE ct.sms_settings (
    enterprise_id  bigint PRIMARY KEY REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    region         text NOT NULL DEFAULT 'PL' CHECK (region ~ '^[A-Z]{2}$'),   -- ISO 3166 region for national numbers
    night_start    time,                             -- rule hits created from here ...
    night_end      time,                             -- ... to here (local time; may wrap midnight) wait until night_end
    CHECK ((night_start IS NULL) = (night_end IS NULL)),
    CHECK (night_start IS NULL OR night_start <> night_end)
);

-- "When an inbound call lands on extension X (or the caller pressed IVR digits d), send text T to the caller."
CREATE TABLE ct.sms_rules (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    pbx            text REFERENCES ct.pbxes(id) ON DELETE CASCADE,   -- null = every PBX of the enterprise
    landing_ext    text CHECK (landing_ext <> ''),   -- the call rang this extension
    ivr_digits     text CHECK (ivr_digits ~ '^[0-9*#]+$'),   -- the caller's IVR digits start with these (AMI)
    only_if        text NOT NULL DEFAULT 'any' CHECK (only_if IN ('missed', 'answered', 'any')),
    text           text NOT NULL CHECK (length(text) > 0),
    quiet_seconds  int NOT NULL DEFAULT 86400 CHECK (quiet_seconds >= 0),   -- at most one SMS per number per rule in this window
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((landing_ext IS NULL) <> (ivr_digits IS NULL))   -- exactly one trigger
);
CREATE INDEX sms_rules_enterprise ON ct.sms_rules (enterprise_id) WHERE enabled;

-- The outbox: NEW → SENDING → SENT | ERROR. A dispatcher claims a row (NEW and due → SENDING) with FOR UPDATE SKIP LOCKED,
-- so each row is handed to the provider by exactly one dispatcher at a time.
CREATE TABLE ct.sms_out (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id        bigint NOT NULL REFERENCES ct.enterprises(id),
    to_number            text NOT NULL CHECK (to_number ~ '^\+[1-9][0-9]{6,14}$'),   -- E.164
    text                 text NOT NULL CHECK (length(text) > 0),
    status               text NOT NULL DEFAULT 'NEW' CHECK (status IN ('NEW', 'SENDING', 'SENT', 'ERROR')),
    attempts             int NOT NULL DEFAULT 0 CHECK (attempts >= 0),   -- provider requests made
    next_attempt_at      timestamptz NOT NULL DEFAULT now(),             -- NEW rows are due from here (retry backoff, night hours)
    last_error           text,                       -- the provider's (or our) reason of the last failure
    provider             text,                       -- provider that handled the last attempt (smsapi, webhook, log)
    provider_code        text,                       -- the provider's error code of the last failure
    provider_message_id  text,                       -- the provider's id once SENT
    origin_rule_id       bigint REFERENCES ct.sms_rules(id) ON DELETE SET NULL,
    origin_user          text,                       -- X-User-Id of the API caller
    call_id              bigint REFERENCES ct.calls(id) ON DELETE SET NULL,
    triggered_at         timestamptz NOT NULL DEFAULT now(),   -- end of the triggering call (quiet-period clock), else creation
    created_at           timestamptz NOT NULL DEFAULT now(),
    sending_at           timestamptz,                -- when the current/last claim happened
    sent_at              timestamptz,
    UNIQUE (origin_rule_id, call_id)                 -- a rule fires at most once per call (NULLs never collide: API rows)
);
CREATE INDEX sms_out_due ON ct.sms_out (next_attempt_at, id) WHERE status = 'NEW';
CREATE INDEX sms_out_sending ON ct.sms_out (sending_at) WHERE status = 'SENDING';
CREATE INDEX sms_out_quiet ON ct.sms_out (origin_rule_id, to_number, triggered_at);
CREATE INDEX sms_out_call ON ct.sms_out (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX sms_out_enterprise ON ct.sms_out (enterprise_id, created_at DESC);
