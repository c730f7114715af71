-- The index of issued messages (issue 16, item 3: the public verify page). One row per
-- signed message in the audit log, keyed by its verification code, holding the whole signed
-- record (so a hit is checked against the lender's public key: an edited row cannot pass)
-- and the audit entry it came from. It is derived data: `arrears serve --keys … --audit-log …`
-- rebuilds it from the log at start (one transaction replacing every row), so the verify page
-- never reads the log per request. `message_index_state` says when it was built, from which
-- log, and how many message records the log had redacted (a code of one of those cannot be
-- told apart from one never issued).
CREATE TABLE issued_messages (
    code        TEXT PRIMARY KEY CHECK (length(code) BETWEEN 1 AND 32),
    lender      TEXT NOT NULL,
    borrower_id TEXT NOT NULL,
    loan_id     TEXT,
    channel     TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    sequence    INTEGER NOT NULL,
    body        TEXT NOT NULL,
    signature   TEXT NOT NULL,
    audit_seq   INTEGER NOT NULL
) STRICT;

CREATE TABLE message_index_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    built_at          TEXT NOT NULL,
    source            TEXT NOT NULL,
    messages          INTEGER NOT NULL,
    redacted_messages INTEGER NOT NULL
) STRICT;
