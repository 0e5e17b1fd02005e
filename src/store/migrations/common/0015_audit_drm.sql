-- The DRM a SEES decision or an entitlement token was for (`fairplay`, `widevine`, `playready`).
ALTER TABLE audit_events ADD COLUMN drm TEXT;
