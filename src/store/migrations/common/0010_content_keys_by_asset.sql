-- The entitlement-token endpoints look content keys up by the asset they protect.
CREATE INDEX content_keys_by_asset ON content_keys (asset_id);
