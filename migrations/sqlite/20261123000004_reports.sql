-- Reports sent through the outbox (newsletter, governor report, the LA's regular return,
-- rewards): rendered once when queued, so what a person approves is exactly what is sent,
-- and the outbox key (one per school, report and period) means each is sent once.
CREATE TABLE report_documents (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id),
    kind TEXT NOT NULL,
    period TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT
);

CREATE TABLE report_attachments (
    outbox_id INTEGER NOT NULL REFERENCES outbox(id),
    position INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (outbox_id, position)
);
