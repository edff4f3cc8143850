-- Issue 17: a run's own writes forget its pupils' certificates once per statement, not once per
-- row. Recording the 09:45 run at 100,000 pupils inserted 541 decisions and 1,098 outbox items, and
-- each row's trigger rewrote its pupil's certificate row again. In the statement log the decisions
-- took 36 ms with the triggers and 17-22 ms without, the outbox items 13-14 ms and 4 ms, and the
-- one statement forgetting the run's 527 pupils 12 ms.
--
-- Decisions, outbox items and stage memory are inserted only by `record` (src/delivery/outbox.rs),
-- which now forgets the certificates of every pupil it wrote rows for in one statement of the same
-- transaction (`forget_certificates`); a test keeps any other writer from inserting them
-- (`only_record_inserts_rows_that_it_forgets_itself`). Updates and deletes of these tables, and
-- every write of the other tables the engine reads, keep their row triggers.
DROP TRIGGER decisions_insert_forgets_quiet;
DROP TRIGGER outbox_items_insert_forgets_quiet;
DROP TRIGGER stage_memory_insert_forgets_quiet;
DROP TRIGGER stage_memory_update_forgets_quiet;
