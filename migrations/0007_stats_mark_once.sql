-- A village already marked stale is not marked again: before, every write statement
-- added a row to stats_dirty, so between two reads the queue grew with the number of
-- writes (2.5 million rows after loading a million households) and the read's check
-- for stale villages scanned all of them. No unique key: concurrent writers of the same
-- village must not wait for each other (or deadlock) over a mark; a rare duplicate is
-- harmless, since a read takes every mark of its villages at once.
CREATE OR REPLACE FUNCTION stats_mark_villages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_dirty (village)
      SELECT DISTINCT n.region_code FROM new_rows n
      WHERE NOT EXISTS (SELECT 1 FROM stats_dirty d WHERE d.village = n.region_code);
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO stats_dirty (village)
      SELECT t.region_code FROM (SELECT region_code FROM new_rows UNION SELECT region_code FROM old_rows) t
      WHERE NOT EXISTS (SELECT 1 FROM stats_dirty d WHERE d.village = t.region_code);
  ELSE
    INSERT INTO stats_dirty (village)
      SELECT DISTINCT o.region_code FROM old_rows o
      WHERE NOT EXISTS (SELECT 1 FROM stats_dirty d WHERE d.village = o.region_code);
  END IF;
  RETURN NULL;
END
$$;
