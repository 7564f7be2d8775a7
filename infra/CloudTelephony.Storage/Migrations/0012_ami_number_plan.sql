-- A PBX's number plan (issue 14, AMI item 1): which channels are trunks and which are extensions. Set with
-- `admin pbx set --pbx P --trunk PJSIP/provider [--extension-pattern RE] [--internal-context CTX]`; read by every
-- correlation of the PBX's stream (ingest, queue, sweep, archive restore). Empty = inferred from the stream's evidence.
ALTER TABLE ct.pbxes ADD COLUMN IF NOT EXISTS trunk_endpoints text[] NOT NULL DEFAULT '{}';
ALTER TABLE ct.pbxes ADD COLUMN IF NOT EXISTS extension_pattern text;
ALTER TABLE ct.pbxes ADD COLUMN IF NOT EXISTS internal_contexts text[] NOT NULL DEFAULT '{}';
