-- Delivery under faults (issue 12).

-- How many times a message was sent again after an attempt whose outcome was unknown, without
-- the channel being able to say whether that attempt arrived (SMTP cannot be asked): each is
-- a copy the recipient may have twice. Kept on the row, so a daemon killed mid-pass loses none.
ALTER TABLE outbox ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;

-- The process holding a school lease. `holder` names the daemon as host and systemd unit (or
-- its configured name), so a restarted daemon knows the lease is its own; `process` tells it
-- which earlier process of that daemon left rows in 'sending', to take them back at once.
ALTER TABLE school_leases ADD COLUMN process TEXT;
