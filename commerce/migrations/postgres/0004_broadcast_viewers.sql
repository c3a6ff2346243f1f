-- Viewers per broadcast: the peak and the number of distinct viewers, and
-- how many watched over time. The live room counts them in memory and
-- writes them about every 30 s and once more at the end, never per join or
-- leave. The SQLite migration of the same version has the same tables
-- and constraints.

-- peak_viewers: most viewers watching at once; total_viewers: distinct
-- viewers who watched at all (the rows of broadcast_audience). Kept on the
-- broadcast so that the broadcasts listing reads them without a count per
-- row. Broadcasts from before this version show 0.
ALTER TABLE broadcasts ADD COLUMN peak_viewers BIGINT NOT NULL DEFAULT 0 CHECK (peak_viewers >= 0);
ALTER TABLE broadcasts ADD COLUMN total_viewers BIGINT NOT NULL DEFAULT 0 CHECK (total_viewers >= 0);

-- Every viewer who watched the broadcast, once. Distinct viewers cannot be
-- summed from counts: a viewer who comes back after the room restarted (its
-- last connection left, or the server restarted mid-broadcast) must not
-- count twice, and the room's memory does not survive that. A row per
-- viewer per broadcast is small next to its chat.
CREATE TABLE broadcast_audience (
    broadcast_id BIGINT  NOT NULL REFERENCES broadcasts (id),
    viewer_id    BIGINT  NOT NULL REFERENCES viewers (id),
    PRIMARY KEY (broadcast_id, viewer_id)
);

-- Viewers over time: a row per sample, offset_s whole seconds from the
-- broadcast's started_at, on a 30 s grid plus one at the end. viewers is
-- the count at that moment, peak_viewers the most since the previous
-- sample. Rows rather than an encoded series in the broadcast: a sample is
-- an insert, not a rewrite of a growing value, and a two-hour broadcast is
-- 240 short rows.
CREATE TABLE broadcast_viewer_samples (
    broadcast_id BIGINT  NOT NULL REFERENCES broadcasts (id),
    offset_s     INTEGER NOT NULL CHECK (offset_s >= 0),
    viewers      BIGINT  NOT NULL CHECK (viewers >= 0),
    peak_viewers BIGINT  NOT NULL CHECK (peak_viewers >= viewers),
    PRIMARY KEY (broadcast_id, offset_s)
);
