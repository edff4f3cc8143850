-- Two writers of one pupil's register year (two imports, an import and a daemon's inbox, two
-- daemons) must not overwrite each other's marks. Every write of a register_years row raises
-- its version while the row is locked (INSERT … ON CONFLICT DO UPDATE, in pupil-year order);
-- an import re-reads only the rows whose version moved since it read them, and merges its
-- file's marks into what is there now.
ALTER TABLE register_years ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
