-- The console (issue 15): people who sign in, what they may do at which school, their
-- sessions, and a record of everything they did there.

-- A person who signs in. The password is an argon2id PHC string; NULL for someone who only
-- signs in through the school's identity provider.
CREATE TABLE web_users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    created_at TEXT NOT NULL,
    -- Wrong passwords in a row, and until when sign-in is refused after too many.
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT
);

-- Roles are per school: a trust's staff may hold roles at several schools.
CREATE TABLE web_roles (
    user_id INTEGER NOT NULL REFERENCES web_users(id),
    school_id INTEGER NOT NULL REFERENCES schools(id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, school_id, role)
);

-- Signed-in sessions, by the SHA-256 of the cookie's token (a copy of the database does not
-- sign anyone in), with the token every form of the session carries.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES web_users(id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Who did what, when and from where: approvals, rejections, call outcomes, sign-ins.
CREATE TABLE web_audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    email TEXT NOT NULL,
    school_id INTEGER,
    action TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    remote TEXT NOT NULL DEFAULT ''
);

-- What happened when the office rang a family on the call list.
CREATE TABLE call_outcomes (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    day TEXT NOT NULL,
    outcome TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX call_outcomes_day ON call_outcomes (school_id, day);

-- Sign-ins through the school's identity provider under way: the state sent, with the nonce
-- and PKCE verifier it must come back with, and the SHA-256 of a cookie given to the browser
-- that started it (only that browser may finish it). Each is used once, within ten minutes.
CREATE TABLE web_oidc_states (
    state TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    browser TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- A staff task (a meeting, a home visit, an enquiry, a review) closed by a person, with what
-- came of it: the pupil's history holds it.
CREATE TABLE task_outcomes (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id),
    school_id INTEGER NOT NULL REFERENCES schools(id),
    outcome TEXT NOT NULL,
    closed_by TEXT NOT NULL,
    closed_at TEXT NOT NULL
);
