-- The stall's profile on its channel page, its scheduled broadcasts, and
-- the PIN login that stands in for a lost studio link. The PostgreSQL
-- migration of the same version has the same columns and constraints.

-- Free text the merchant writes; '' when not given. photo_key is the
-- stall photo in the photo store ('' for none), as products.photo_key.
ALTER TABLE channels ADD COLUMN market      TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN location    TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN hours       TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN photo_key   TEXT NOT NULL DEFAULT '';
-- The PIN as "pbkdf2-sha256$<iterations>$<salt>$<hash>" (base64): a six
-- digit PIN is guessable from a plain hash. NULL: no PIN login.
ALTER TABLE channels ADD COLUMN pin_hash TEXT;

-- Studio sessions opened with the PIN: each login gets a token of its own,
-- stored as its SHA-256 hash like the studio token, and accepted wherever
-- the studio token is. The studio token itself cannot be given out again:
-- only its hash is kept.
CREATE TABLE studio_sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER   NOT NULL REFERENCES channels (id),
    token_hash BLOB      NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at TIMESTAMP NOT NULL
);

-- Broadcasts the merchant announced; the channel page lists the upcoming
-- ones.
CREATE TABLE scheduled_broadcasts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER   NOT NULL REFERENCES channels (id),
    title      TEXT      NOT NULL,
    starts_at  TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX scheduled_broadcasts_channel_starts ON scheduled_broadcasts (channel_id, starts_at);
