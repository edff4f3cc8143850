-- Issue 17: a pupil's certificate row is made with the pupil. Each pass used to count the
-- school's pupils and their rows (13 ms at 100,000 pupils, in every run) to find pupils
-- imported since the last pass and give them rows. Rows are never deleted but with their
-- pupils, and pupils are never deleted, so a row made here is there for good.
CREATE TRIGGER pupils_insert_makes_quiet AFTER INSERT ON pupils
BEGIN INSERT OR IGNORE INTO pupil_quiet (pupil_id, school_id) VALUES (NEW.id, NEW.school_id); END;

INSERT OR IGNORE INTO pupil_quiet (pupil_id, school_id) SELECT id, school_id FROM pupils;

-- A message's items find their pupil through one decision: `= (…)` looks it up, where
-- `IN (…)` built a temporary table for it at every row (a run's 1,100 items: 10 ms → 6 ms).
DROP TRIGGER outbox_items_insert_forgets_quiet;
CREATE TRIGGER outbox_items_insert_forgets_quiet AFTER INSERT ON outbox_items
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = (SELECT d.pupil_id FROM decisions d WHERE d.id = NEW.decision_id); END;
DROP TRIGGER outbox_items_update_forgets_quiet;
CREATE TRIGGER outbox_items_update_forgets_quiet AFTER UPDATE ON outbox_items
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = (SELECT d.pupil_id FROM decisions d WHERE d.id = NEW.decision_id); END;
DROP TRIGGER outbox_items_delete_forgets_quiet;
CREATE TRIGGER outbox_items_delete_forgets_quiet AFTER DELETE ON outbox_items
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = (SELECT d.pupil_id FROM decisions d WHERE d.id = OLD.decision_id); END;
