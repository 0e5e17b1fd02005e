-- The audit log: one row per SEES decision and per admin write. Never key material, cookies, tokens or
-- bodies. Times are Unix milliseconds (UTC); the trail is a JSON array of the decision's steps.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    error       BIGINT,
    client      TEXT,
    serial      TEXT,
    caller      TEXT,
    message_id  TEXT,
    request_id  TEXT,
    content_id  TEXT,
    user_id     TEXT,
    asset_id    TEXT,
    method      TEXT,
    route       TEXT,
    status      BIGINT,
    trail       TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (at);
CREATE INDEX audit_events_by_user ON audit_events (user_id, at);
CREATE INDEX audit_events_by_content ON audit_events (content_id, at);
