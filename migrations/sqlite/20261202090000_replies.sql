-- Parents' replies to texts (issue 16): what arrived, what it matched, what a person decided,
-- and the reasons still to be entered in the MIS. Replies are children's data: the body is
-- kept here and shown in the console, never logged.

-- A text a parent sent, as the provider gave it. (provider, provider_id) is the claim: a
-- message polled twice, or by two daemons, or posted twice by a webhook, is stored once.
CREATE TABLE replies (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    -- E.164 when it reads as a UK mobile (+447700900123), else as the provider gave it.
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    -- RFC 3339 UTC: when the provider received it, and when rollcall stored it.
    received_at TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    UNIQUE (provider, provider_id)
);
CREATE INDEX replies_received ON replies (received_at);

-- The pupils a reply may be about, found when it was stored: every pupil of a contact with
-- that number, with the pupil's unexplained days (N or no mark) in the 5 school days before
-- it arrived, and how many messages went to that number in those days.
CREATE TABLE reply_candidates (
    reply_id INTEGER NOT NULL REFERENCES replies(id),
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    contact_name TEXT NOT NULL,
    relationship TEXT NOT NULL,
    -- School days with an unexplained session, oldest first, comma-separated ISO dates.
    absent_days TEXT NOT NULL,
    messages_sent INTEGER NOT NULL,
    PRIMARY KEY (reply_id, pupil_id)
);
CREATE INDEX reply_candidates_school ON reply_candidates (school_id, reply_id);

-- What a person made of a reply at a school: confirmed as the reason for a pupil's absence
-- (one row per pupil: a reply about two siblings is confirmed for each), or set aside there
-- (not about an absence; pupil_id 0). A trust's other schools decide their part themselves.
CREATE TABLE reply_outcomes (
    reply_id INTEGER NOT NULL REFERENCES replies(id),
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    explains_from TEXT,
    explains_to TEXT,
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (reply_id, school_id, pupil_id)
);

-- Each session a confirmed reply explains: the engine leaves stages marked
-- answered_by_reply alone for it, and until the MIS shows a code for it, it is on the
-- office's "to enter in the MIS" list.
CREATE TABLE reply_explanations (
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    day TEXT NOT NULL,
    session TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    reply_id INTEGER NOT NULL REFERENCES replies(id),
    confirmed_by TEXT NOT NULL,
    confirmed_at TEXT NOT NULL,
    PRIMARY KEY (pupil_id, day, session)
);
CREATE INDEX reply_explanations_school ON reply_explanations (school_id, day);

-- How far a provider's list of received messages has been read: each walk from the newest
-- page down stops at the newest message of the last walk that finished, so a walk cut short
-- (a restart mid-page) is simply walked again next time.
CREATE TABLE reply_polls (
    provider TEXT PRIMARY KEY,
    walked_through TEXT,
    walked_at TEXT NOT NULL
);
