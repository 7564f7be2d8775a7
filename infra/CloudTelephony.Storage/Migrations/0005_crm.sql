-- CRM API (issue 8): contact devices get their own id (DELETE /api/contacts/{id}/devices/{deviceId}) and an optional
-- label (mobile, office, …), contacts an update time. Existing rows are numbered by the identity column.
ALTER TABLE ct.contact_devices ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE ct.contact_devices ADD CONSTRAINT contact_devices_id UNIQUE (id);
ALTER TABLE ct.contact_devices ADD COLUMN label text;
ALTER TABLE ct.contacts ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
