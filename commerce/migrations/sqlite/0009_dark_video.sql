-- Dark video: the time the merchant's camera picture was too dark to see
-- (a dark corner of the market, a finger over the lens), as the studio
-- measured it on the phone and told the room (video.dark). The server
-- cannot judge it from the H.264 it receives. The PostgreSQL migration of
-- the same version has the same column and constraint.
ALTER TABLE broadcasts ADD COLUMN dark_ms INTEGER NOT NULL DEFAULT 0 CHECK (dark_ms >= 0);
