-- Issue 17: an incremental pass counts the pupils on roll by registration group (the guards
-- weigh the whole roll, the pupils it leaves out included). Counted afresh, that read every
-- pupil's entry in `pupils_school_roll` at every run (31-35 ms at 100,000 pupils on SQLite). A
-- pass that counts keeps its count here: the roll on `counted_on` and the admissions and
-- leavings after it (`groups`, JSON), which give the roll of any later day.
--
-- Any change to who is on the roll, or in which group, forgets the count and moves `stamp`,
-- so a pass that counted before the change cannot keep its count after it
-- (src/escalation/incremental.rs).
CREATE TABLE school_roll (
    school_id BIGINT PRIMARY KEY,
    stamp BIGINT NOT NULL DEFAULT 0,
    counted_on TEXT,
    groups TEXT
);

INSERT INTO school_roll (school_id) SELECT id FROM schools;

CREATE FUNCTION make_school_roll() RETURNS trigger AS $$
BEGIN
    INSERT INTO school_roll (school_id) VALUES (NEW.id) ON CONFLICT (school_id) DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER schools_insert_makes_roll AFTER INSERT ON schools
FOR EACH ROW EXECUTE FUNCTION make_school_roll();

CREATE FUNCTION forget_school_roll() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE school_roll SET stamp = stamp + 1, groups = NULL WHERE school_id = OLD.school_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE school_roll SET stamp = stamp + 1, groups = NULL WHERE school_id = NEW.school_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER pupils_insert_delete_forgets_roll AFTER INSERT OR DELETE ON pupils
FOR EACH ROW EXECUTE FUNCTION forget_school_roll();

CREATE TRIGGER pupils_update_forgets_roll AFTER UPDATE ON pupils
FOR EACH ROW WHEN (OLD.school_id IS DISTINCT FROM NEW.school_id
    OR OLD.reg_group IS DISTINCT FROM NEW.reg_group
    OR OLD.admission_date IS DISTINCT FROM NEW.admission_date
    OR OLD.leaving_date IS DISTINCT FROM NEW.leaving_date)
EXECUTE FUNCTION forget_school_roll();
