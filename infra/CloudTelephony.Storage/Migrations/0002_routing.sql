-- Smart Redirect (issue 7): per-enterprise settings, trunks, contacts, CRM manager map, decision log,
-- and the external party's number in E.164 on calls for fast first_call / last_call lookups.

-- One row per enterprise that has been configured; an enterprise without a row behaves as the defaults below.
CREATE TABLE ct.enterprise_settings (
    enterprise_id      bigint PRIMARY KEY REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    default_region     text NOT NULL DEFAULT 'PL' CHECK (default_region ~ '^[A-Z]{2}$'),  -- ISO 3166 region for national numbers
    smart_mode         text NOT NULL DEFAULT 'off' CHECK (smart_mode IN ('off', 'name-only', 'routing+name')),
    strategy           text NOT NULL DEFAULT 'last_call' CHECK (strategy IN ('first_call', 'last_call', 'crm')),
    fallback_strategy  text CHECK (fallback_strategy IN ('first_call', 'last_call', 'crm')),
    lookback_days      int NOT NULL DEFAULT 90 CHECK (lookback_days BETWEEN 1 AND 3650),
    budget_ms          int NOT NULL DEFAULT 300 CHECK (budget_ms BETWEEN 10 AND 5000),
    ip_allowlist       cidr[] NOT NULL DEFAULT '{}',  -- empty = any address
    crm_kind           text CHECK (crm_kind IN ('retailcrm')),
    crm_url            text,                          -- e.g. https://shop.retailcrm.pl
    crm_api_key        text,                          -- the CRM's API key (never logged)
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Trunks (lines) of an enterprise; smart routing answers a DialPlan only on enabled ones.
CREATE TABLE ct.trunks (
    enterprise_id  bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    trunk          text NOT NULL,                     -- TrunkId as the Asterisk macro sends it
    smart_enabled  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (enterprise_id, trunk)
);

CREATE TABLE ct.contacts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    name           text NOT NULL,
    company        text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_enterprise ON ct.contacts (enterprise_id);

CREATE TABLE ct.contact_devices (
    contact_id     bigint NOT NULL REFERENCES ct.contacts(id) ON DELETE CASCADE,
    enterprise_id  bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    number_e164    text NOT NULL,                     -- +48693109180
    raw            text NOT NULL,                     -- as imported
    PRIMARY KEY (contact_id, number_e164)
);
CREATE INDEX contact_devices_number ON ct.contact_devices (enterprise_id, number_e164);

-- CRM manager (user) id → the extension that manager answers on.
CREATE TABLE ct.crm_manager_map (
    enterprise_id   bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    crm_manager_id  text NOT NULL,
    ext             text NOT NULL,
    PRIMARY KEY (enterprise_id, crm_manager_id)
);

-- Every Smart Redirect answer; written off the request path in batches.
CREATE TABLE ct.routing_decisions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id   bigint NOT NULL REFERENCES ct.enterprises(id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    unique_id       text,                             -- Asterisk UniqueId
    phone           text,                             -- as sent
    phone_e164      text,
    trunk           text,
    load_dial_plan  boolean NOT NULL,
    mode            text NOT NULL,
    strategy        text,                             -- the strategy that decided (null when none ran)
    outcome         text NOT NULL,                    -- routed | name | unknown | off | timeout | error
    reason          text NOT NULL,
    name            text,
    dial_plan       text,
    latency_ms      real NOT NULL
);
CREATE INDEX routing_decisions_enterprise_at ON ct.routing_decisions (enterprise_id, at DESC);

-- The external party of a call in E.164 (caller of inbound, called of outbound), filled by ingest with the
-- enterprise's default region; null for internal calls and numbers that are not valid.
ALTER TABLE ct.calls ADD COLUMN remote_e164 text;
CREATE INDEX calls_remote_e164 ON ct.calls (remote_e164, started_at) WHERE remote_e164 IS NOT NULL;
