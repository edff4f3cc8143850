-- Issue 17: a certificate's basis as a 64-bit number (the first eight bytes of the SHA-256 of
-- what it was made under) instead of 32 hexadecimal characters in every row (see
-- migrations/sqlite). Every certificate is forgotten once: the first run after it evaluates the
-- whole school, as after any change of basis.
ALTER TABLE pupil_quiet DROP COLUMN basis;
ALTER TABLE pupil_quiet ADD COLUMN basis BIGINT;
