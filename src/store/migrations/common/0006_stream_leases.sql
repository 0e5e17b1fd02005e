-- Concurrency: one lease per running stream of a user, (user, holder, asset), where the holder is the
-- session's device id or, without one, a prefix of the session cookie's keyed hash. Expired leases never
-- count. Times are Unix milliseconds (UTC).
CREATE TABLE stream_leases (
    uid        TEXT NOT NULL,
    holder     TEXT NOT NULL,
    asset_id   TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (uid, holder, asset_id)
);
CREATE INDEX stream_leases_by_expiry ON stream_leases (uid, expires_at);
