-- Issue 17: every pass asks which messages have waited for a person's approval long enough
-- for a reminder. The (school, status) index found every message waiting, and the pass read
-- each one's row to compare its age (at 100,000 pupils, 9,500 messages waiting after the first
-- pass: 8-10 ms alone, 34 ms in a run beside the pass's other reads) to find none or a few.
-- With the creation time in the index, the pass reads only the old ones. Every query the old
-- index served, on school and status, this one serves too.
CREATE INDEX outbox_status_since ON outbox (school_id, status, created_at);
DROP INDEX outbox_status;
