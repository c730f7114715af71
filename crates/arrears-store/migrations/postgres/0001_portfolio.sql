-- The portfolio tables, as imported (docs/store.md). Money is BIGINT minor units.

CREATE TABLE borrowers (
    borrower_id           TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    phone                 TEXT,
    email                 TEXT,
    timezone              TEXT NOT NULL,
    jurisdiction          TEXT NOT NULL,
    language              TEXT,
    deceased              BOOLEAN NOT NULL,
    bankrupt              BOOLEAN NOT NULL,
    cease_contact         BOOLEAN NOT NULL,
    phone_timezone        TEXT,
    dispute_open          BOOLEAN NOT NULL,
    hardship              BOOLEAN NOT NULL,
    breathing_space_until DATE,
    attorney_phone        TEXT,
    attorney_email        TEXT
);

CREATE TABLE loans (
    loan_id          TEXT PRIMARY KEY,
    borrower_id      TEXT NOT NULL REFERENCES borrowers (borrower_id),
    product          TEXT NOT NULL,
    currency         TEXT NOT NULL CHECK (length(currency) = 3),
    principal_minor  BIGINT NOT NULL CHECK (principal_minor > 0),
    annual_rate_bps  INTEGER NOT NULL CHECK (annual_rate_bps >= 0),
    penalty_rate_bps INTEGER NOT NULL CHECK (penalty_rate_bps >= 0),
    disbursed_on     DATE NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'written_off', 'sold', 'closed'))
);
CREATE INDEX loans_by_borrower ON loans (borrower_id);

CREATE TABLE installments (
    loan_id         TEXT NOT NULL REFERENCES loans (loan_id),
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    due_date        DATE NOT NULL,
    principal_minor BIGINT NOT NULL CHECK (principal_minor >= 0),
    interest_minor  BIGINT NOT NULL CHECK (interest_minor >= 0),
    fee_minor       BIGINT NOT NULL CHECK (fee_minor >= 0),
    PRIMARY KEY (loan_id, seq)
);

CREATE TABLE payments (
    payment_id   TEXT PRIMARY KEY,
    loan_id      TEXT NOT NULL REFERENCES loans (loan_id),
    received_at  TIMESTAMPTZ NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    kind         TEXT NOT NULL CHECK (kind IN ('payment', 'reversal')),
    reverses     TEXT REFERENCES payments (payment_id),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL))
);
CREATE INDEX payments_by_loan ON payments (loan_id);
-- A payment is reversed at most once.
CREATE UNIQUE INDEX payments_reversed_once ON payments (reverses) WHERE reverses IS NOT NULL;

CREATE TABLE contacts (
    contact_id  TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    loan_id     TEXT REFERENCES loans (loan_id),
    channel     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    outcome     TEXT NOT NULL,
    target      TEXT,
    party       TEXT,
    agency_id   TEXT
);
CREATE INDEX contacts_by_borrower ON contacts (borrower_id);

CREATE TABLE promises (
    promise_id   TEXT PRIMARY KEY,
    loan_id      TEXT NOT NULL REFERENCES loans (loan_id),
    created_at   TIMESTAMPTZ NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    due_date     DATE NOT NULL
);
CREATE INDEX promises_by_loan ON promises (loan_id);

-- One row per import that changed something (an import that changes nothing leaves no trace).
CREATE TABLE imports (
    import_id     BIGSERIAL PRIMARY KEY,
    imported_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    source        TEXT NOT NULL,
    rows_inserted BIGINT NOT NULL,
    rows_updated  BIGINT NOT NULL,
    conflicts     BIGINT NOT NULL
);
