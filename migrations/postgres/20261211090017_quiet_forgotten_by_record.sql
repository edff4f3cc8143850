-- Issue 17: a run's own writes forget its pupils' certificates once per statement, not once per
-- row. Recording the 09:45 run at 100,000 pupils inserted 541 decisions and 1,098 outbox items, and
-- each row's trigger rewrote its pupil's certificate row again.
--
-- Decisions, outbox items and stage memory are inserted only by `record` (src/delivery/outbox.rs),
-- which now forgets the certificates of every pupil it wrote rows for in one statement of the same
-- transaction (`forget_certificates`); a test keeps any other writer from inserting them
-- (`only_record_inserts_rows_that_it_forgets_itself`). Updates and deletes of these tables, and
-- every write of the other tables the engine reads, keep their row triggers. As on SQLite.
DROP TRIGGER decisions_forgets_quiet ON decisions;
CREATE TRIGGER decisions_forgets_quiet AFTER UPDATE OR DELETE ON decisions
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

DROP TRIGGER outbox_items_forgets_quiet ON outbox_items;
CREATE TRIGGER outbox_items_forgets_quiet AFTER UPDATE OR DELETE ON outbox_items
FOR EACH ROW EXECUTE FUNCTION forget_quiet_decision();

DROP TRIGGER stage_memory_forgets_quiet ON stage_memory;
CREATE TRIGGER stage_memory_forgets_quiet AFTER DELETE ON stage_memory
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();
