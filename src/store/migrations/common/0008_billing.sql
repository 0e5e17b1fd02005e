-- Billing plans and products (sees extensions: the OEM spec shows them in answers but has no routes to
-- manage them). The nested parts are JSON text, read and written whole. Times are Unix milliseconds (UTC).
CREATE TABLE billing_plans (
    id           TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    recurrence   TEXT NOT NULL,
    prices       TEXT NOT NULL,
    trial_period TEXT,
    custom_data  TEXT NOT NULL
);

-- A product sells one package through one billing plan: at most one product per (package, plan). It
-- goes with its package; a billing plan that products still use cannot be deleted.
CREATE TABLE products (
    id              TEXT PRIMARY KEY,
    package_id      TEXT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    billing_plan_id TEXT NOT NULL REFERENCES billing_plans (id),
    name            TEXT NOT NULL,
    short_desc      TEXT NOT NULL,
    long_desc       TEXT NOT NULL,
    store_data      TEXT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    modified_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX products_by_package ON products (package_id, billing_plan_id);
CREATE INDEX products_by_plan ON products (billing_plan_id, package_id);
