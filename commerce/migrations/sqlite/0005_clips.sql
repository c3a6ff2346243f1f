-- Product clips: for each pin of a recorded broadcast, the short video cut
-- from the recording (from the pin to the next, at most a minute) that the
-- channel page shows under the product and the replay under its chapter.
-- One per pin at most; the server writes them once the recording ended.
-- The PostgreSQL migration of the same version has the same table.
CREATE TABLE broadcast_clips (
    pin_id      INTEGER PRIMARY KEY REFERENCES broadcast_pins (id),
    url         TEXT    NOT NULL CHECK (url <> ''),
    duration_ms INTEGER NOT NULL CHECK (duration_ms > 0)
);
