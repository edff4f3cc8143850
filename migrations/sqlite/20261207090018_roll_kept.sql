-- Issue 17: an incremental pass counts the pupils on roll by registration group (the guards
-- weigh the whole roll, the pupils it leaves out included). Counted afresh, that read every
-- pupil's entry in `pupils_school_roll` at every run (31-35 ms at 100,000 pupils). A
-- pass that counts keeps its count here: the roll on `counted_on` and the admissions and
-- leavings after it (`groups`, JSON), which give the roll of any later day.
--
-- Any change to who is on the roll, or in which group, forgets the count and moves `stamp`,
-- so a pass that counted before the change cannot keep its count after it
-- (src/escalation/incremental.rs).
CREATE TABLE school_roll (
    school_id INTEGER PRIMARY KEY,
    stamp INTEGER NOT NULL DEFAULT 0,
    counted_on TEXT,
    groups TEXT
);

INSERT INTO school_roll (school_id) SELECT id FROM schools;

CREATE TRIGGER schools_insert_makes_roll AFTER INSERT ON schools
BEGIN INSERT OR IGNORE INTO school_roll (school_id) VALUES (NEW.id); END;

CREATE TRIGGER pupils_insert_forgets_roll AFTER INSERT ON pupils
BEGIN UPDATE school_roll SET stamp = stamp + 1, groups = NULL WHERE school_id = NEW.school_id; END;

CREATE TRIGGER pupils_update_forgets_roll AFTER UPDATE ON pupils
WHEN OLD.school_id IS NOT NEW.school_id OR OLD.reg_group IS NOT NEW.reg_group OR OLD.admission_date IS NOT NEW.admission_date OR OLD.leaving_date IS NOT NEW.leaving_date
BEGIN UPDATE school_roll SET stamp = stamp + 1, groups = NULL WHERE school_id IN (OLD.school_id, NEW.school_id); END;

CREATE TRIGGER pupils_delete_forgets_roll AFTER DELETE ON pupils
BEGIN UPDATE school_roll SET stamp = stamp + 1, groups = NULL WHERE school_id = OLD.school_id; END;
