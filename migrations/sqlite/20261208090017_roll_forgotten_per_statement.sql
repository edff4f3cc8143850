-- Issue 17: on PostgreSQL this migration forgets the kept roll once per statement instead of
-- once per pupil row (see migrations/postgres). SQLite updates the school's `school_roll` row in
-- place, so its row triggers of `roll_kept` cost nothing seen (importing 100,000 pupils' year of
-- marks took as long with them as without) and stay as they are.
SELECT 1;
