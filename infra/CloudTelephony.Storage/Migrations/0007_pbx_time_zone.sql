-- A PBX's time zone defaults to its enterprise's (issue 19): PBX clocks are local, and the enterprise knows where it is.
-- A PBX registered without a zone (first contact through ingest, `admin pbx assign` without --time-zone) takes its
-- enterprise's zone when the row is inserted; the column keeps the zone explicitly from then on.
ALTER TABLE ct.pbxes ALTER COLUMN time_zone DROP DEFAULT;

CREATE OR REPLACE FUNCTION ct.pbx_default_time_zone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.time_zone IS NULL THEN
        SELECT e.time_zone INTO NEW.time_zone FROM ct.enterprises e WHERE e.id = NEW.enterprise_id;
        NEW.time_zone := coalesce(NEW.time_zone, 'UTC');
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS pbxes_default_time_zone ON ct.pbxes;
CREATE TRIGGER pbxes_default_time_zone BEFORE INSERT ON ct.pbxes
    FOR EACH ROW EXECUTE FUNCTION ct.pbx_default_time_zone();

-- PBXes that still have the old default 'UTC' under an enterprise with another zone were never given one: they follow
-- the enterprise now (IP Office SMDR times were 1–2 h off).
UPDATE ct.pbxes p SET time_zone = e.time_zone
  FROM ct.enterprises e
 WHERE e.id = p.enterprise_id AND p.time_zone = 'UTC' AND e.time_zone <> 'UTC';
