-- The service (`arrears serve`): API tokens and users, the events ingested through the API
-- (idempotent by event id), the borrower state changes those events made, and the log of
-- every read of a borrower's data. Events, state changes and the access log are never
-- changed or deleted. Instants are TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC, fixed width).

-- Only a SHA-256 of a token is stored: a token is 256 random bits, so a fast hash is enough.
CREATE TABLE api_tokens (
    token_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;
-- One live token per name (revoke, then create, to rotate).
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE users (
    user_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    role          TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'compliance', 'admin')),
    password_hash TEXT NOT NULL, -- argon2id, PHC string
    created_at    TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;

CREATE TABLE ingested_events (
    event_id    TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    body_sha256 TEXT NOT NULL CHECK (length(body_sha256) = 64),
    body        TEXT NOT NULL, -- the event as received (canonical JSON)
    received_at TEXT NOT NULL,
    actor       TEXT NOT NULL  -- the token's name
) STRICT;

CREATE TABLE borrower_state_changes (
    change_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    borrower_id  TEXT NOT NULL REFERENCES borrowers (borrower_id),
    flag         TEXT NOT NULL
                 CHECK (flag IN ('dispute_open', 'cease_contact', 'hardship', 'deceased', 'bankrupt')),
    value        INTEGER NOT NULL CHECK (value IN (0, 1)),
    effective_at TEXT NOT NULL,
    event_id     TEXT NOT NULL REFERENCES ingested_events (event_id),
    recorded_at  TEXT NOT NULL
) STRICT;
CREATE INDEX borrower_state_changes_by_borrower ON borrower_state_changes (borrower_id, change_id);

CREATE TABLE access_log (
    access_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    borrower_id TEXT,
    loan_id     TEXT
) STRICT;
CREATE INDEX access_log_by_borrower ON access_log (borrower_id, access_id);

CREATE TRIGGER ingested_events_never_deleted BEFORE DELETE ON ingested_events
BEGIN
    SELECT RAISE(ABORT, 'ingested events are never deleted');
END;
CREATE TRIGGER ingested_events_never_updated BEFORE UPDATE ON ingested_events
BEGIN
    SELECT RAISE(ABORT, 'ingested events are never changed');
END;
CREATE TRIGGER borrower_state_changes_never_deleted BEFORE DELETE ON borrower_state_changes
BEGIN
    SELECT RAISE(ABORT, 'borrower state changes are never deleted');
END;
CREATE TRIGGER borrower_state_changes_never_updated BEFORE UPDATE ON borrower_state_changes
BEGIN
    SELECT RAISE(ABORT, 'borrower state changes are never changed');
END;
CREATE TRIGGER access_log_never_deleted BEFORE DELETE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is never deleted');
END;
CREATE TRIGGER access_log_never_updated BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is never changed');
END;
