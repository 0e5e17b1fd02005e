-- The store-wide generation of cached state: every write that changes what nodes cache bumps it in
-- its own transaction and sends the new value in its NOTIFY (see src/store/coherence.rs).
CREATE TABLE sees_cache_generation (
    id BIGINT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO sees_cache_generation (id, generation) VALUES (1, 0);
