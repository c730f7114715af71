-- The web pages: sessions (staff after a password login, borrowers after a portal code),
-- one-time portal codes, which agent works which loan, and the text borrowers wrote when they
-- opened a dispute on the portal. Secrets (session ids, portal codes) are stored only as
-- SHA-256 hashes: each is 256 random bits, so a fast hash is enough. Instants are TEXT
-- 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC, fixed width, so text order is time order).

CREATE TABLE sessions (
    session_sha256 TEXT PRIMARY KEY CHECK (length(session_sha256) = 64),
    kind           TEXT NOT NULL CHECK (kind IN ('staff', 'borrower')),
    username       TEXT REFERENCES users (username),
    borrower_id    TEXT REFERENCES borrowers (borrower_id),
    csrf_token     TEXT NOT NULL CHECK (length(csrf_token) = 64),
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    CHECK ((kind = 'staff' AND username IS NOT NULL AND borrower_id IS NULL)
        OR (kind = 'borrower' AND borrower_id IS NOT NULL AND username IS NULL))
) STRICT;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- A code is exchanged once (used_at set in the same transaction that creates the session).
CREATE TABLE portal_codes (
    code_sha256 TEXT PRIMARY KEY CHECK (length(code_sha256) = 64),
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    used_at     TEXT
) STRICT;

-- Which agent works a loan (one at a time); agents see only their loans.
CREATE TABLE assignments (
    loan_id     TEXT PRIMARY KEY REFERENCES loans (loan_id),
    username    TEXT NOT NULL REFERENCES users (username),
    assigned_at TEXT NOT NULL
) STRICT;
CREATE INDEX assignments_by_user ON assignments (username, loan_id);

-- What a borrower wrote when opening a dispute; the hold itself is the dispute_opened event.
CREATE TABLE dispute_notes (
    note_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    event_id    TEXT NOT NULL REFERENCES ingested_events (event_id),
    body        TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX dispute_notes_by_borrower ON dispute_notes (borrower_id, note_id);

CREATE TRIGGER dispute_notes_never_deleted BEFORE DELETE ON dispute_notes
BEGIN
    SELECT RAISE(ABORT, 'dispute notes are never deleted');
END;
CREATE TRIGGER dispute_notes_never_updated BEFORE UPDATE ON dispute_notes
BEGIN
    SELECT RAISE(ABORT, 'dispute notes are never changed');
END;
