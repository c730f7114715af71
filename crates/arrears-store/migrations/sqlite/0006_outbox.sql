-- The outbox: every message the compliance engine allowed, written before anything is sent,
-- so a crash never loses one; a dispatcher claims due rows under a lease, sends them with
-- their idempotency key (and an e-mail's Message-ID derived from outbox_id) and marks them.
-- See docs/channels.md for the states. Instants are TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ'.
CREATE TABLE outbox (
    outbox_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key   TEXT NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    borrower_id       TEXT NOT NULL REFERENCES borrowers (borrower_id),
    loan_id           TEXT REFERENCES loans (loan_id),
    channel           TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'push')),
    party             TEXT NOT NULL,
    target            TEXT,
    purpose           TEXT NOT NULL,
    agency_id         TEXT,
    language          TEXT NOT NULL,
    lender_name       TEXT NOT NULL,
    verification_code TEXT NOT NULL,
    subject           TEXT,
    body              TEXT NOT NULL,
    -- The decision that allowed it.
    decided_at        TEXT NOT NULL,
    jurisdiction      TEXT NOT NULL,
    pack_version      TEXT NOT NULL,
    policy            TEXT,
    enqueued_at       TEXT NOT NULL,
    expires_at        TEXT,
    not_before        TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'claimed', 'failed', 'sent', 'dead', 'blocked', 'expired')),
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   TEXT NOT NULL,
    lease_owner       TEXT,
    lease_until       TEXT,
    last_error        TEXT,
    sent_at           TEXT,
    contact_id        TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
