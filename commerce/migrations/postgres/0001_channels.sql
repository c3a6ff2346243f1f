-- One channel per stall. The stream key and studio token are shown to the
-- merchant once and stored only as SHA-256 hashes (32 bytes).
-- An identity column never reuses ids, as AUTOINCREMENT on SQLite.
CREATE TABLE channels (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug              TEXT        NOT NULL UNIQUE CHECK (slug = lower(slug)),
    name              TEXT        NOT NULL,
    stream_key_hash   BYTEA       NOT NULL CHECK (length(stream_key_hash) = 32),
    studio_token_hash BYTEA       NOT NULL CHECK (length(studio_token_hash) = 32),
    created_at        TIMESTAMPTZ NOT NULL
);
