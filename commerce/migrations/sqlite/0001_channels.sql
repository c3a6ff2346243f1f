-- One channel per stall. The stream key and studio token are shown to the
-- merchant once and stored only as SHA-256 hashes (32 bytes).
-- AUTOINCREMENT so that ids are never reused, as with a PostgreSQL identity.
CREATE TABLE channels (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    slug              TEXT      NOT NULL UNIQUE CHECK (slug = lower(slug)),
    name              TEXT      NOT NULL,
    stream_key_hash   BLOB      NOT NULL CHECK (length(stream_key_hash) = 32),
    studio_token_hash BLOB      NOT NULL CHECK (length(studio_token_hash) = 32),
    created_at        TIMESTAMP NOT NULL
);
