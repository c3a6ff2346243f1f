-- Recording settings per channel, the retention sweep's mark on broadcasts,
-- and where an order came from. The PostgreSQL migration of the same
-- version has the same columns and constraints.

-- record: whether the channel's broadcasts are recorded (on by default,
-- as before this version). recording_retention_days: recordings of
-- broadcasts that ended longer ago are deleted; NULL keeps them forever.
ALTER TABLE channels ADD COLUMN record INTEGER NOT NULL DEFAULT 1 CHECK (record IN (0, 1));
ALTER TABLE channels ADD COLUMN recording_retention_days INTEGER
    CHECK (recording_retention_days BETWEEN 1 AND 3650);

-- Set once the retention sweep deleted the broadcast's recording: the
-- sweep does not try again and the replay is gone.
ALTER TABLE broadcasts ADD COLUMN recording_deleted_at TIMESTAMP;

-- 'replay' for an order placed from a broadcast's replay page.
ALTER TABLE orders ADD COLUMN source TEXT NOT NULL DEFAULT 'live' CHECK (source IN ('live', 'replay'));
