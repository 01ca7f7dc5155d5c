-- Statistics summary upkeep (docs/statistics.md): every statement that inserts, updates
-- or deletes households, members or measures marks the villages it touched, in the same
-- transaction, so that the summary rows of exactly those villages are rebuilt before the
-- next statistics read. Statement-level triggers with transition tables: a bulk insert
-- marks each village once, not once per row.
CREATE FUNCTION stats_mark_villages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_dirty (village) SELECT DISTINCT region_code FROM new_rows;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO stats_dirty (village) SELECT region_code FROM new_rows UNION SELECT region_code FROM old_rows;
  ELSE
    INSERT INTO stats_dirty (village) SELECT DISTINCT region_code FROM old_rows;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER households_stats_insert AFTER INSERT ON households REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
CREATE TRIGGER households_stats_update AFTER UPDATE ON households REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
CREATE TRIGGER households_stats_delete AFTER DELETE ON households REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
CREATE TRIGGER members_stats_insert AFTER INSERT ON members REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
CREATE TRIGGER members_stats_update AFTER UPDATE ON members REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
CREATE TRIGGER members_stats_delete AFTER DELETE ON members REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
CREATE TRIGGER measures_stats_insert AFTER INSERT ON measures REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
CREATE TRIGGER measures_stats_update AFTER UPDATE ON measures REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
CREATE TRIGGER measures_stats_delete AFTER DELETE ON measures REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_villages();
--> statement-breakpoint
-- Nothing summarised yet: the first read marks every village with households and builds the years up to its own.
INSERT INTO stats_state (id, last_year) VALUES (1, 2013);
