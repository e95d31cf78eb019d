-- Access lists on instances; the audit trail.
ALTER TABLE connector_instances ADD COLUMN access TEXT;
CREATE TABLE audit_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    operation    TEXT NOT NULL,
    actor        TEXT,
    on_behalf_of TEXT,
    instance     TEXT,
    action       TEXT,
    target       TEXT,
    outcome      TEXT NOT NULL,
    code         TEXT,
    duration_ms  INTEGER NOT NULL,
    request_id   TEXT
);
CREATE INDEX audit_events_by_at ON audit_events (at);
