-- Monetization entitlements share the entitlement table (an offer names a package): the extra fields
-- the monetization API carries. And the devices each user registered (requestType 2), for the per-user
-- device limit. Times are Unix milliseconds (UTC).
ALTER TABLE entitlements ADD COLUMN concurrency_limit BIGINT;
ALTER TABLE entitlements ADD COLUMN origin_country TEXT;
ALTER TABLE entitlements ADD COLUMN project_id TEXT;
ALTER TABLE entitlements ADD COLUMN source_id TEXT;
ALTER TABLE entitlements ADD COLUMN source_type TEXT;

CREATE TABLE user_devices (
    uid           TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (uid, device_id)
);
