-- Issue 14: what the school records about a pupil beside the MIS export.
--
-- An integration period extended for one pupil (James Marks L44: "This can be extended if
-- agreed that this is necessary and appropriate for a pupil"): every extension is kept, with
-- who agreed it and why; the latest one counts.
CREATE TABLE integration_extensions (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    until_date TEXT NOT NULL,
    extended_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX integration_extensions_pupil ON integration_extensions (pupil_id, id);

-- Medical evidence seen for a pupil's illness (I) between two dates, inclusive, and who
-- recorded it.
CREATE TABLE medical_evidence (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    pupil_id INTEGER NOT NULL REFERENCES pupils(id),
    from_date TEXT NOT NULL,
    to_date TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX medical_evidence_pupil ON medical_evidence (pupil_id, from_date);

-- A pupil on the roll (no leaving date) whom a full MIS export no longer lists: the first
-- full export without them, by the school-local date it was imported. Removed when a later
-- export lists them again. Nothing is deleted: the deletion notice waits for a person.
CREATE TABLE export_missing (
    pupil_id INTEGER PRIMARY KEY REFERENCES pupils(id),
    school_id INTEGER NOT NULL REFERENCES schools(id),
    first_missing_on TEXT NOT NULL,
    source TEXT NOT NULL
);
