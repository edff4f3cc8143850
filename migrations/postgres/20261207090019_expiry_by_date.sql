-- Issue 17: every pass expires the messages whose time to live has passed. Found by school
-- and status, the pass read every message waiting or queued (10,500 after the bench's first
-- pass at 100,000 pupils: 6-10 ms of every run, inside its writing transaction) to find none
-- or a few. By school, status and expiry time, it reads only those due.
CREATE INDEX outbox_expiry ON outbox (school_id, status, expires_at);
