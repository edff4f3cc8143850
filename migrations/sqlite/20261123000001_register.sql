-- The register: schools, pupils, contacts, marks (one row per pupil per academic year) and
-- every amendment. Dates are ISO-8601 text and instants RFC 3339 UTC text, so the same
-- queries run unchanged on SQLite and PostgreSQL through sqlx's Any driver.

CREATE TABLE schools (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    urn TEXT NOT NULL,
    la_code TEXT NOT NULL
);

CREATE TABLE pupils (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    upn TEXT NOT NULL,
    forename TEXT NOT NULL,
    surname TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    year_group TEXT NOT NULL,
    reg_group TEXT NOT NULL,
    gender TEXT NOT NULL,
    fsm INTEGER NOT NULL,
    sen TEXT NOT NULL,
    eal INTEGER NOT NULL,
    ethnicity TEXT NOT NULL,
    lac INTEGER NOT NULL,
    social_worker INTEGER NOT NULL,
    young_carer INTEGER NOT NULL,
    concern INTEGER NOT NULL,
    admission_date TEXT NOT NULL,
    leaving_date TEXT,
    UNIQUE (school_id, upn)
);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    priority INTEGER NOT NULL,
    name TEXT NOT NULL,
    relationship TEXT NOT NULL,
    email TEXT,
    mobile TEXT,
    parental_responsibility INTEGER NOT NULL,
    address_line_1 TEXT NOT NULL,
    address_line_2 TEXT NOT NULL,
    town TEXT NOT NULL,
    postcode TEXT NOT NULL,
    UNIQUE (pupil_id, priority)
);

-- Where marks came from: one row per import (or, later, per MIS sync).
CREATE TABLE mark_sources (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    recorded_by_name TEXT NOT NULL,
    recorded_by_role TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);

-- One byte per calendar day and session from 1 August (see session::slot); 0 = no mark.
-- The statistics read only this table, so it holds nothing else.
CREATE TABLE register_years (
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    year INTEGER NOT NULL,
    marks BLOB NOT NULL,
    PRIMARY KEY (pupil_id, year)
);
CREATE INDEX register_years_school_year ON register_years (school_id, year);

-- For each slot of register_years.marks, the mark_sources.id that recorded it (u32 LE).
CREATE TABLE register_provenance (
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    year INTEGER NOT NULL,
    sources BLOB NOT NULL,
    PRIMARY KEY (pupil_id, year)
);

CREATE TABLE mark_amendments (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    date TEXT NOT NULL,
    session TEXT NOT NULL,
    original_code TEXT NOT NULL,
    new_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    amended_at TEXT NOT NULL,
    amended_by_name TEXT NOT NULL,
    amended_by_role TEXT NOT NULL,
    source_id INTEGER NOT NULL REFERENCES mark_sources(id)
);
CREATE INDEX mark_amendments_pupil ON mark_amendments (pupil_id, date);
