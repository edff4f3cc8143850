-- Two writers of one pupil's register year (two imports, an import and the daemon's inbox)
-- must not overwrite each other's marks. Every write of a register_years row raises its
-- version under the write lock (BEGIN IMMEDIATE on SQLite); an import re-reads only the rows
-- whose version moved since it read them, and merges its file's marks into what is there now.
ALTER TABLE register_years ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
