-- One default region per enterprise (issue 13): ct.enterprise_settings.default_region, used by ingest, Smart Redirect,
-- contacts and SMS. ct.sms_settings.region (SMS only) could disagree with it; it goes, keeping what was set:
-- an enterprise that had only SMS settings gets its SMS region as its default region; where both were set and differ,
-- the default region (which numbers of calls and contacts were normalised with) stays, and a NOTICE names the enterprise.
INSERT INTO ct.enterprise_settings (enterprise_id, default_region)
SELECT s.enterprise_id, s.region FROM ct.sms_settings s
 WHERE NOT EXISTS (SELECT 1 FROM ct.enterprise_settings e WHERE e.enterprise_id = s.enterprise_id);

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT s.enterprise_id, s.region, e.default_region
               FROM ct.sms_settings s JOIN ct.enterprise_settings e ON e.enterprise_id = s.enterprise_id
              WHERE s.region <> e.default_region
    LOOP
        RAISE NOTICE 'enterprise %: SMS region % dropped, default region % kept for SMS too', r.enterprise_id, r.region, r.default_region;
    END LOOP;
END $$;

ALTER TABLE ct.sms_settings DROP COLUMN region;
