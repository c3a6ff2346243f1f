-- Tutors ("digital supporters") who set merchants up and rehearse with
-- them, and the channels each one looks after. The SQLite migration of the
-- same version has the same columns and constraints.

-- handle is the operator's short name for the tutor on the command line.
-- The login token is shown once and stored as its SHA-256 hash, like the
-- studio token.
CREATE TABLE tutors (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle     TEXT        NOT NULL UNIQUE CHECK (handle = lower(handle)),
    name       TEXT        NOT NULL,
    phone      TEXT        NOT NULL DEFAULT '',
    token_hash BYTEA       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at TIMESTAMPTZ NOT NULL
);

-- A channel may have more than one tutor (one leaves, another takes over).
CREATE TABLE tutor_channels (
    tutor_id   BIGINT NOT NULL REFERENCES tutors (id),
    channel_id BIGINT NOT NULL REFERENCES channels (id),
    PRIMARY KEY (tutor_id, channel_id)
);
CREATE INDEX tutor_channels_channel ON tutor_channels (channel_id);
