-- The web pages: sessions (staff after a password login, borrowers after a portal code),
-- one-time portal codes, which agent works which loan, and the text borrowers wrote when they
-- opened a dispute on the portal. Secrets (session ids, portal codes) are stored only as
-- SHA-256 hashes: each is 256 random bits, so a fast hash is enough.

CREATE TABLE sessions (
    session_sha256 TEXT PRIMARY KEY CHECK (length(session_sha256) = 64),
    kind           TEXT NOT NULL CHECK (kind IN ('staff', 'borrower')),
    username       TEXT REFERENCES users (username),
    borrower_id    TEXT REFERENCES borrowers (borrower_id),
    csrf_token     TEXT NOT NULL CHECK (length(csrf_token) = 64),
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    CHECK ((kind = 'staff' AND username IS NOT NULL AND borrower_id IS NULL)
        OR (kind = 'borrower' AND borrower_id IS NOT NULL AND username IS NULL))
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- A code is exchanged once (used_at set in the same transaction that creates the session).
CREATE TABLE portal_codes (
    code_sha256 TEXT PRIMARY KEY CHECK (length(code_sha256) = 64),
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    used_at     TIMESTAMPTZ
);

-- Which agent works a loan (one at a time); agents see only their loans.
CREATE TABLE assignments (
    loan_id     TEXT PRIMARY KEY REFERENCES loans (loan_id),
    username    TEXT NOT NULL REFERENCES users (username),
    assigned_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX assignments_by_user ON assignments (username, loan_id);

-- What a borrower wrote when opening a dispute; the hold itself is the dispute_opened event.
CREATE TABLE dispute_notes (
    note_id     BIGSERIAL PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    event_id    TEXT NOT NULL REFERENCES ingested_events (event_id),
    body        TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX dispute_notes_by_borrower ON dispute_notes (borrower_id, note_id);

CREATE TRIGGER dispute_notes_immutable BEFORE DELETE OR UPDATE ON dispute_notes
    FOR EACH ROW EXECUTE FUNCTION service_rows_immutable();
CREATE TRIGGER dispute_notes_never_truncated BEFORE TRUNCATE ON dispute_notes
    FOR EACH STATEMENT EXECUTE FUNCTION service_rows_immutable();
