-- Issue 17: the attended marks (late, an educational visit, ...) that a certificate's policy
-- reads as present, one bit per mark byte (see migrations/sqlite). 0, as in every row made
-- before this, keeps only plain present marks and Z, as before.
ALTER TABLE pupil_quiet ADD COLUMN keeps BIGINT NOT NULL DEFAULT 0;
