-- A rebuild of the statistics summary must never consume the stale mark of a write that
-- has not committed yet (issue 19: replicas and pooled connections read and write at the
-- same time). Before, a writer that found its village already marked added nothing, and a
-- rebuild running meanwhile deleted that mark and summed the registry without the write
-- (still uncommitted): once both committed, the village was current in the summary's eyes
-- and wrong until its next write — whichever of the two began first.
--
-- Now a writer holds the mark it relies on (FOR KEY SHARE) until it commits, and a
-- rebuild takes only marks nobody holds (FOR UPDATE SKIP LOCKED, src/modules/statistics/
-- statistics-repository.ts takeDirty): a held mark stays for the next read. A mark that a
-- rebuild is taking is skipped by the writer, who adds its own. Neither side waits for the
-- other, so writers of one village still never wait for each other (shared locks) or for a
-- rebuild, and no deadlock can form between them.
CREATE OR REPLACE FUNCTION stats_mark_villages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_dirty (village)
      SELECT DISTINCT n.region_code FROM new_rows n
      WHERE NOT EXISTS (SELECT 1 FROM stats_dirty d WHERE d.village = n.region_code FOR KEY SHARE SKIP LOCKED);
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO stats_dirty (village)
      SELECT t.region_code FROM (SELECT region_code FROM new_rows UNION SELECT region_code FROM old_rows) t
      WHERE NOT EXISTS (SELECT 1 FROM stats_dirty d WHERE d.village = t.region_code FOR KEY SHARE SKIP LOCKED);
  ELSE
    INSERT INTO stats_dirty (village)
      SELECT DISTINCT o.region_code FROM old_rows o
      WHERE NOT EXISTS (SELECT 1 FROM stats_dirty d WHERE d.village = o.region_code FOR KEY SHARE SKIP LOCKED);
  END IF;
  RETURN NULL;
END
$$;
