-- Raw-frame archive (issue 9): frames older than the enterprise's retention go to Blob Storage as one gzip JSON Lines
-- blob per PBX per UTC day; a row here records each blob, and frames are deleted only in the transaction that sets
-- verified_at. Calls stay.
ALTER TABLE ct.enterprises ADD COLUMN frame_retention_days int NOT NULL DEFAULT 90 CHECK (frame_retention_days >= 1);

CREATE TABLE ct.archives (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pbx          text NOT NULL REFERENCES ct.pbxes(id),
    day          date NOT NULL,                      -- UTC day of the frames' received_at
    blob_name    text NOT NULL,                      -- frames/{pbx}/{yyyy}/{MM}/{dd}.jsonl.gz in the archive container
    frames       bigint NOT NULL,                    -- lines (envelopes) in the blob
    sha256       bytea NOT NULL,                     -- SHA-256 of the blob's bytes as uploaded (gzip)
    bytes        bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(), -- upload recorded
    verified_at  timestamptz,                        -- downloaded back, count and checksum matched
    deleted_at   timestamptz,                        -- that day's frames deleted from ct.frames
    UNIQUE (pbx, day)
);
