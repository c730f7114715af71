-- The portfolio tables, as imported (docs/store.md). Money is INTEGER minor units, dates are
-- TEXT 'YYYY-MM-DD', instants TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC, fixed width, so text
-- order is time order), booleans INTEGER 0/1. STRICT tables refuse a value of another type.

CREATE TABLE borrowers (
    borrower_id           TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    phone                 TEXT,
    email                 TEXT,
    timezone              TEXT NOT NULL,
    jurisdiction          TEXT NOT NULL,
    language              TEXT,
    deceased              INTEGER NOT NULL CHECK (deceased IN (0, 1)),
    bankrupt              INTEGER NOT NULL CHECK (bankrupt IN (0, 1)),
    cease_contact         INTEGER NOT NULL CHECK (cease_contact IN (0, 1)),
    phone_timezone        TEXT,
    dispute_open          INTEGER NOT NULL CHECK (dispute_open IN (0, 1)),
    hardship              INTEGER NOT NULL CHECK (hardship IN (0, 1)),
    breathing_space_until TEXT,
    attorney_phone        TEXT,
    attorney_email        TEXT
) STRICT;

CREATE TABLE loans (
    loan_id          TEXT PRIMARY KEY,
    borrower_id      TEXT NOT NULL REFERENCES borrowers (borrower_id),
    product          TEXT NOT NULL,
    currency         TEXT NOT NULL CHECK (length(currency) = 3),
    principal_minor  INTEGER NOT NULL CHECK (principal_minor > 0),
    annual_rate_bps  INTEGER NOT NULL CHECK (annual_rate_bps >= 0),
    penalty_rate_bps INTEGER NOT NULL CHECK (penalty_rate_bps >= 0),
    disbursed_on     TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'written_off', 'sold', 'closed'))
) STRICT;
CREATE INDEX loans_by_borrower ON loans (borrower_id);

CREATE TABLE installments (
    loan_id         TEXT NOT NULL REFERENCES loans (loan_id),
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    due_date        TEXT NOT NULL,
    principal_minor INTEGER NOT NULL CHECK (principal_minor >= 0),
    interest_minor  INTEGER NOT NULL CHECK (interest_minor >= 0),
    fee_minor       INTEGER NOT NULL CHECK (fee_minor >= 0),
    PRIMARY KEY (loan_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE payments (
    payment_id   TEXT PRIMARY KEY,
    loan_id      TEXT NOT NULL REFERENCES loans (loan_id),
    received_at  TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    kind         TEXT NOT NULL CHECK (kind IN ('payment', 'reversal')),
    reverses     TEXT REFERENCES payments (payment_id),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL))
) STRICT;
CREATE INDEX payments_by_loan ON payments (loan_id);
-- A payment is reversed at most once.
CREATE UNIQUE INDEX payments_reversed_once ON payments (reverses) WHERE reverses IS NOT NULL;

CREATE TABLE contacts (
    contact_id  TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    loan_id     TEXT REFERENCES loans (loan_id),
    channel     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    at          TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    target      TEXT,
    party       TEXT,
    agency_id   TEXT
) STRICT;
CREATE INDEX contacts_by_borrower ON contacts (borrower_id);

CREATE TABLE promises (
    promise_id   TEXT PRIMARY KEY,
    loan_id      TEXT NOT NULL REFERENCES loans (loan_id),
    created_at   TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    due_date     TEXT NOT NULL
) STRICT;
CREATE INDEX promises_by_loan ON promises (loan_id);

-- One row per import that changed something (an import that changes nothing leaves no trace).
CREATE TABLE imports (
    import_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    imported_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    source        TEXT NOT NULL,
    rows_inserted INTEGER NOT NULL,
    rows_updated  INTEGER NOT NULL,
    conflicts     INTEGER NOT NULL
) STRICT;
