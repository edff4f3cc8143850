-- The incremental pass counts the pupils it leaves out by registration group (the guards
-- that weigh the whole roll need them): from this index alone, not the pupils' rows.
CREATE INDEX pupils_school_group ON pupils (school_id, reg_group);
