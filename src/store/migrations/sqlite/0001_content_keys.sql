-- Small facts the server keeps about itself, such as the master-key canary.
CREATE TABLE sees_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Content keys, sealed with AES-256-GCM under the master key: sealed = nonce || ciphertext || tag of
-- cek || iv, with the content ID bound as associated data. Times are Unix milliseconds (UTC).
CREATE TABLE content_keys (
    content_id        TEXT PRIMARY KEY,
    sealed            BLOB NOT NULL,
    token_lifetime    TEXT,
    rental_duration_s BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
