-- Issue 17: the attended marks (late, an educational visit, ...) that a certificate's policy
-- reads as present, one bit per mark byte (src/escalation/quiet.rs, `KeptMarks`), so that the
-- register writer credits them to the certificate instead of forgetting it. 0, as in every row
-- made before this, keeps only plain present marks and Z, as before.
ALTER TABLE pupil_quiet ADD COLUMN keeps INTEGER NOT NULL DEFAULT 0;
