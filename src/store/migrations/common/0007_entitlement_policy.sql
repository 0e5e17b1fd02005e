-- The concurrency policy an entitlement sets for itself (`block-new` or `evict-oldest`; NULL = the
-- configured default).
ALTER TABLE entitlements ADD COLUMN concurrency_policy TEXT;
