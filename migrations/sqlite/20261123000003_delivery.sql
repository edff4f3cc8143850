-- Delivery and the daemon. Instants here are RFC 3339 UTC text ("…Z"): leases and retry
-- times must compare correctly across a clock change, unlike the school-local wall times
-- (created_at, not_before, expires_at) that policies speak in.

-- Delivery state on each message: who holds it while it is being sent (a short lease, never
-- a transaction held open across a network call), when it went, and whether the last
-- attempt may have reached the provider without us hearing back.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
ALTER TABLE outbox ADD COLUMN sent_at TEXT;
ALTER TABLE outbox ADD COLUMN finished_at TEXT;
ALTER TABLE outbox ADD COLUMN ambiguous INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_due ON outbox (school_id, status, next_attempt_at);

-- Every scheduled run that came due, so each fires once however many daemons are running and
-- however often they restart. The primary key is the claim.
CREATE TABLE due_runs (
    school_id INTEGER NOT NULL REFERENCES schools(id),
    job TEXT NOT NULL,
    due_at TEXT NOT NULL,
    local_due TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT,
    PRIMARY KEY (school_id, job, due_at)
);

-- Which daemon sends for a school: one at a time; another takes over when the lease lapses.
CREATE TABLE school_leases (
    school_id INTEGER PRIMARY KEY REFERENCES schools(id),
    holder TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Register files picked up from the inbox folder, so a file is imported once.
CREATE TABLE register_polls (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    file TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    outcome TEXT NOT NULL
);
