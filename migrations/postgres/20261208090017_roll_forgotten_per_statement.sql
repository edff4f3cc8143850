-- Issue 17: the triggers of `roll_kept` forgot the kept roll once per pupil row. On PostgreSQL
-- every UPDATE of the school's one `school_roll` row leaves a new version of it, and within one
-- transaction each UPDATE walks past all the versions before it: importing pupils grew with the
-- square of the file (5,000 pupils 0.70 s, 10,000 1.80 s, 20,000 5.69 s into a fresh database;
-- 1,000,000 did not finish in 45 minutes, against 35 s before `roll_kept`). Here the count is
-- forgotten once per statement, for each school the statement's rows touched, from the
-- statement's transition tables. SQLite updates its row in place and keeps its row triggers.
DROP TRIGGER pupils_insert_delete_forgets_roll ON pupils;
DROP TRIGGER pupils_update_forgets_roll ON pupils;
DROP FUNCTION forget_school_roll();

-- `changed_rows`: the pupils a statement inserted or deleted.
CREATE FUNCTION forget_school_roll_of_rows() RETURNS trigger AS $$
BEGIN
    UPDATE school_roll SET stamp = stamp + 1, groups = NULL
    WHERE school_id IN (SELECT school_id FROM changed_rows);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER pupils_insert_forgets_roll AFTER INSERT ON pupils
REFERENCING NEW TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION forget_school_roll_of_rows();

CREATE TRIGGER pupils_delete_forgets_roll AFTER DELETE ON pupils
REFERENCING OLD TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION forget_school_roll_of_rows();

-- An update forgets the roll of the schools a pupil left or joined, only when it changed who
-- is on the roll or in which group (as the row trigger's WHEN did).
CREATE FUNCTION forget_school_roll_of_moves() RETURNS trigger AS $$
BEGIN
    UPDATE school_roll SET stamp = stamp + 1, groups = NULL
    WHERE school_id IN (
        SELECT unnest(ARRAY[o.school_id, n.school_id])
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.school_id IS DISTINCT FROM n.school_id
            OR o.reg_group IS DISTINCT FROM n.reg_group
            OR o.admission_date IS DISTINCT FROM n.admission_date
            OR o.leaving_date IS DISTINCT FROM n.leaving_date);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER pupils_update_forgets_roll AFTER UPDATE ON pupils
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION forget_school_roll_of_moves();
