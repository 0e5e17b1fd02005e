-- A package's DRM policy (`drmPolicy` in the admin API): the JSON of `drm::DrmPolicy`, checked before
-- it is written; NULL when the package sets none.
ALTER TABLE packages ADD COLUMN drm_policy TEXT;
