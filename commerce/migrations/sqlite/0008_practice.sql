-- Practice sessions: a tutor (or the merchant alone) rehearses on the
-- merchant's own channel, privately. The PostgreSQL migration of the same
-- version has the same columns and constraints.

-- A session is open from its creation until its broadcast ends or it is
-- cancelled (ended_at set); while open, the channel's next broadcast is the
-- practice one and the channel's room and video need a practice credential.
-- token is kept as it is, unlike the other secrets: the tutor's page shows
-- the invitation link again, and it opens only this rehearsal while open.
-- ticks holds what only the tutor can judge, as a JSON object.
CREATE TABLE practice_sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id   INTEGER   NOT NULL REFERENCES channels (id),
    tutor_id     INTEGER   REFERENCES tutors (id),
    title        TEXT      NOT NULL DEFAULT '',
    token        TEXT      NOT NULL UNIQUE,
    broadcast_id INTEGER   UNIQUE REFERENCES broadcasts (id),
    ticks        TEXT      NOT NULL DEFAULT '{}',
    cancelled    INTEGER   NOT NULL DEFAULT 0 CHECK (cancelled IN (0, 1)),
    created_at   TIMESTAMP NOT NULL,
    ended_at     TIMESTAMP
);
CREATE UNIQUE INDEX practice_sessions_one_open ON practice_sessions (channel_id) WHERE ended_at IS NULL;
CREATE INDEX practice_sessions_channel ON practice_sessions (channel_id, id);

-- The tutor's tips (shown on the merchant's studio) and notes (for the
-- review), stamped with when they were given.
CREATE TABLE practice_notes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER   NOT NULL REFERENCES practice_sessions (id),
    kind       TEXT      NOT NULL CHECK (kind IN ('tip', 'note')),
    text       TEXT      NOT NULL,
    at         TIMESTAMP NOT NULL
);
CREATE INDEX practice_notes_session ON practice_notes (session_id, id);

-- Orders placed in a practice broadcast: they reserve no real stock and no
-- report counts them.
ALTER TABLE orders ADD COLUMN practice INTEGER NOT NULL DEFAULT 0 CHECK (practice IN (0, 1));

-- Chat said from the merchant's studio: the merchant's answers, which the
-- practice review times (the studio chats through a viewer row of its own).
ALTER TABLE chat_messages ADD COLUMN merchant INTEGER NOT NULL DEFAULT 0 CHECK (merchant IN (0, 1));

-- How the phone's video came through, written when the broadcast ends:
-- average video bitrate of all layers, publisher reconnects, and the time
-- the video stood still (gaps of 2 s or more). NULL video_kbps: not measured.
ALTER TABLE broadcasts ADD COLUMN video_kbps INTEGER;
ALTER TABLE broadcasts ADD COLUMN reconnects INTEGER NOT NULL DEFAULT 0 CHECK (reconnects >= 0);
ALTER TABLE broadcasts ADD COLUMN frozen_ms  INTEGER NOT NULL DEFAULT 0 CHECK (frozen_ms >= 0);
