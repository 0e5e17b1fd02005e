-- Entitlement tokens already applied (PUT /oem/v1/entitlements/token): one row per (provider, jti),
-- kept until the token can no longer verify (its exp plus auth.clock_skew_s), so that a token grants at
-- most once. Rows past keep_until are deleted opportunistically. Times are Unix milliseconds (UTC).
CREATE TABLE entitlement_token_jtis (
    provider   TEXT NOT NULL,
    jti        TEXT NOT NULL,
    uid        TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    keep_until BIGINT NOT NULL,
    PRIMARY KEY (provider, jti)
);
CREATE INDEX entitlement_token_jtis_by_expiry ON entitlement_token_jtis (keep_until);
