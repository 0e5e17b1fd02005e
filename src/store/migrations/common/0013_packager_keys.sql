-- The key ID (KID) of a content key — the 16-byte identifier packagers, Widevine and PlayReady name a
-- key by, as 32 lowercase hex digits — and, for keys a packager asked for over SPEKE, the packager's
-- content ID (CPIX `contentId`). Both NULL for keys added by hand without a KID.
ALTER TABLE content_keys ADD COLUMN kid TEXT;
ALTER TABLE content_keys ADD COLUMN packager_content_id TEXT;
-- One key per (packager content ID, KID): two identical SPEKE requests at once create one key.
CREATE UNIQUE INDEX content_keys_by_packager_kid ON content_keys (packager_content_id, kid);

-- HTTP Basic credentials of packagers on the SPEKE listener: created by `sees speke credentials
-- create`, shown once, stored only as the SHA-256 of the 256-bit random secret.
CREATE TABLE speke_credentials (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
