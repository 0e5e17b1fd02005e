-- Cookie → device bindings for device-bound tokens. The cookie is stored only as a keyed hash
-- (HMAC-SHA256 under a key derived from the master key). Times are Unix milliseconds (UTC).
CREATE TABLE device_bindings (
    cookie_hash   TEXT PRIMARY KEY,
    device_id     TEXT,
    registered_at BIGINT,
    learned_at    BIGINT,
    updated_at    BIGINT NOT NULL
);
