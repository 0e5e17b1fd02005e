-- The entitlement catalogue (OEM v1 and package graphs) and the admin API's tokens.
-- Times are Unix milliseconds (UTC); flags are 0/1 BIGINTs (portable); lists keep their order in `position`.

CREATE TABLE packages (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    bypass        BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    modified_at   BIGINT NOT NULL
);

CREATE TABLE package_assets (
    package_id TEXT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    asset_id   TEXT NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (package_id, asset_id)
);
CREATE INDEX package_assets_by_asset ON package_assets (asset_id);

CREATE TABLE package_billing_plans (
    package_id      TEXT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    billing_plan_id TEXT NOT NULL,
    position        BIGINT NOT NULL,
    PRIMARY KEY (package_id, billing_plan_id)
);
CREATE INDEX package_billing_plans_by_plan ON package_billing_plans (billing_plan_id);

CREATE TABLE package_regions (
    package_id TEXT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    region_id  TEXT NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (package_id, region_id)
);

CREATE TABLE package_custom_data (
    package_id TEXT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (package_id, name)
);
CREATE INDEX package_custom_data_by_pair ON package_custom_data (name, value);

CREATE TABLE package_edges (
    parent_id TEXT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    child_id  TEXT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX package_edges_by_child ON package_edges (child_id);

CREATE TABLE entitlements (
    uid         TEXT NOT NULL,
    package_id  TEXT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (uid, package_id)
);
CREATE INDEX entitlements_by_package ON entitlements (package_id);

CREATE TABLE asset_entitlements (
    uid         TEXT NOT NULL,
    asset_id    TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (uid, asset_id)
);

-- Admin API bearer tokens: only a SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
