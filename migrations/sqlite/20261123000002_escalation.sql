-- Escalation: decisions (each unique per pupil, stage and episode anchor), the case each
-- pupil in escalation has, its transitions with the facts behind them, what the engine
-- remembers between runs, and the outbox every planned message goes through.

CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    stage TEXT NOT NULL,
    anchor TEXT NOT NULL,
    trigger TEXT NOT NULL,
    reason TEXT NOT NULL,
    requires_approval INTEGER NOT NULL,
    decided_at TEXT NOT NULL,
    facts TEXT NOT NULL,
    UNIQUE (pupil_id, stage, anchor)
);

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    opened_on TEXT NOT NULL,
    closed_on TEXT,
    stage TEXT NOT NULL,
    stage_entered TEXT NOT NULL
);
-- At most one open case per pupil.
CREATE UNIQUE INDEX cases_open_per_pupil ON cases (pupil_id) WHERE closed_on IS NULL;

CREATE TABLE case_transitions (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    case_id INTEGER NOT NULL REFERENCES cases(id),
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    from_stage TEXT,
    to_stage TEXT,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    facts TEXT NOT NULL
);
CREATE INDEX case_transitions_case ON case_transitions (case_id);

CREATE TABLE stage_memory (
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    stage TEXT NOT NULL,
    active_since TEXT,
    PRIMARY KEY (pupil_id, stage)
);

-- One row per message to send (siblings' messages to the same person are one row).
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    recipient_role TEXT NOT NULL,
    recipient TEXT NOT NULL,
    address TEXT,
    template TEXT NOT NULL,
    task TEXT,
    status TEXT NOT NULL,
    requires_approval INTEGER NOT NULL,
    hold_reason TEXT,
    created_at TEXT NOT NULL,
    not_before TEXT,
    expires_at TEXT,
    decided_by TEXT,
    decided_at TEXT,
    decision_note TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT,
    provider_id TEXT
);
CREATE INDEX outbox_status ON outbox (school_id, status);

-- Which decisions a message carries (one per sibling).
CREATE TABLE outbox_items (
    outbox_id INTEGER NOT NULL REFERENCES outbox(id),
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    cancelled_reason TEXT,
    PRIMARY KEY (outbox_id, decision_id)
);

-- Every change of a message's status: approvals, rejections, cancellations, with who and why.
CREATE TABLE outbox_events (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id),
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL
);
