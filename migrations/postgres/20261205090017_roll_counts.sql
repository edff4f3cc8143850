-- Issue 17: what an incremental pass reads of every pupil, it reads from indexes alone.
--
-- The pass counts the pupils on roll today by registration group (the guards that weigh the
-- whole roll need them) and takes away the pupils it evaluates: admission and leaving dates
-- in the index spare a read of each pupil's row. It replaces the group index, whose queries
-- it serves.
CREATE INDEX pupils_school_roll ON pupils (school_id, reg_group, admission_date, leaving_date);
DROP INDEX pupils_school_group;

-- The certificates are found by school alone. Keyed by (school, until), the index put the
-- rows in date order, so a scan of the school's certificates read them in no order at all,
-- and every certificate written moved its entry.
CREATE INDEX pupil_quiet_by_school ON pupil_quiet (school_id);
DROP INDEX pupil_quiet_school;
