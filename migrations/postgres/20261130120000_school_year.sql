-- A whole school year, run day by day (issue 11).
--
-- A decision that needs a person's approval moves the pupil's case only once a person approves
-- it: `transition` is NULL when the decision does not move the case, else 'applied',
-- 'pending' (waiting for approval) or 'dropped' (rejected, or withdrawn before anyone decided).
-- `case_before` is the case as the decision found it (JSON, or NULL for no open case): a
-- waiting decision is re-checked against the register with that case, never the case it moved.
ALTER TABLE decisions ADD COLUMN case_from TEXT;
ALTER TABLE decisions ADD COLUMN case_to TEXT;
ALTER TABLE decisions ADD COLUMN transition TEXT;
ALTER TABLE decisions ADD COLUMN case_before TEXT;
-- Withdrawn: the register no longer shows what caused it (an N recoded to I before anyone
-- decided). Its messages are cancelled with the same reason.
ALTER TABLE decisions ADD COLUMN withdrawn_at TEXT;
ALTER TABLE decisions ADD COLUMN withdrawn_reason TEXT;
CREATE INDEX decisions_pupil_stage ON decisions (school_id, pupil_id, stage);

-- When the school's last escalation pass ran (school-local time): a pass after a gap catches
-- up several ladder steps at once; a pass on a school run daily moves a case one step a day.
ALTER TABLE schools ADD COLUMN last_pass_at TEXT;

-- Which messages carry a decision (re-checks, approvals and reports look a decision's
-- messages up; the primary key only serves the other direction).
CREATE INDEX outbox_items_decision ON outbox_items (decision_id);
