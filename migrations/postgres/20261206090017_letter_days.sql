-- Issue 17: every pass asks which pupils have a letter home going out from today on (made
-- today, or put off to today or later). The school's outbox index found only the school, so
-- the pass read every message it had ever made (at 100,000 pupils, 37,000 messages and 25 ms
-- of a 0.4 s run) to find none or a few. Keyed by the day a message goes, the index reads
-- only the school's letters of today and later.
CREATE INDEX outbox_letter_days ON outbox (school_id, channel, (COALESCE(not_before, created_at)));
