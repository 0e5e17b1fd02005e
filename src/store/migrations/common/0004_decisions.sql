-- Decisions from the catalogue: the asset each content key protects (NULL = the content ID itself),
-- and playback sessions, which turn a customerCookie into a user. The cookie is stored only as a keyed
-- hash. Times are Unix milliseconds (UTC).
ALTER TABLE content_keys ADD COLUMN asset_id TEXT;

CREATE TABLE playback_sessions (
    cookie_hash TEXT PRIMARY KEY,
    uid         TEXT NOT NULL,
    device_id   TEXT,
    country     TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX playback_sessions_by_uid ON playback_sessions (uid);
