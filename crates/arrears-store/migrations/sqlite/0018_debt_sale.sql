-- Debt sale (issue 14 item 3, docs/sale.md): a sale of loans to a buyer at a price in basis
-- points of face value, and each loan sold with its balances by component on the sale date,
-- its face value (their sum), its price (face x bps / 10000, rounded half-to-even once per
-- loan) and its loss (face - price). Each loan also gets its `sales` lifecycle record (ALL-SOLD)
-- named in `lifecycle_sale_id`. A loan is sold once. Both tables are append-only.
CREATE TABLE debt_sales (
    sale_id     TEXT PRIMARY KEY CHECK (length(sale_id) BETWEEN 1 AND 128),
    buyer       TEXT NOT NULL CHECK (length(trim(buyer)) BETWEEN 1 AND 200),
    -- The business date of the sale, and its first instant in the business time zone.
    sold_on     TEXT NOT NULL CHECK (length(sold_on) = 10),
    sold_at     TEXT NOT NULL,
    price_bps   INTEGER NOT NULL CHECK (price_bps BETWEEN 0 AND 10000),
    loans       INTEGER NOT NULL CHECK (loans > 0),
    recorded_by TEXT NOT NULL CHECK (length(recorded_by) BETWEEN 1 AND 128),
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;

CREATE TABLE debt_sale_loans (
    sale_id           TEXT NOT NULL REFERENCES debt_sales (sale_id),
    loan_id           TEXT NOT NULL UNIQUE REFERENCES loans (loan_id),
    borrower_id       TEXT NOT NULL REFERENCES borrowers (borrower_id),
    currency          TEXT NOT NULL CHECK (length(currency) = 3),
    principal_minor   INTEGER NOT NULL CHECK (principal_minor >= 0),
    interest_minor    INTEGER NOT NULL CHECK (interest_minor >= 0),
    fee_minor         INTEGER NOT NULL CHECK (fee_minor >= 0),
    penalty_minor     INTEGER NOT NULL CHECK (penalty_minor >= 0),
    face_minor        INTEGER NOT NULL
        CHECK (face_minor > 0 AND face_minor = principal_minor + interest_minor + fee_minor + penalty_minor),
    price_minor       INTEGER NOT NULL CHECK (price_minor >= 0 AND price_minor <= face_minor),
    loss_minor        INTEGER NOT NULL CHECK (loss_minor = face_minor - price_minor),
    lifecycle_sale_id TEXT NOT NULL UNIQUE REFERENCES sales (sale_id),
    PRIMARY KEY (sale_id, loan_id)
) STRICT;
CREATE INDEX debt_sale_loans_by_borrower ON debt_sale_loans (borrower_id);

CREATE TRIGGER debt_sales_never_deleted BEFORE DELETE ON debt_sales
BEGIN
    SELECT RAISE(ABORT, 'debt_sales rows are never deleted');
END;
CREATE TRIGGER debt_sales_never_updated BEFORE UPDATE ON debt_sales
BEGIN
    SELECT RAISE(ABORT, 'debt_sales rows are never changed');
END;
CREATE TRIGGER debt_sale_loans_never_deleted BEFORE DELETE ON debt_sale_loans
BEGIN
    SELECT RAISE(ABORT, 'debt_sale_loans rows are never deleted');
END;
CREATE TRIGGER debt_sale_loans_never_updated BEFORE UPDATE ON debt_sale_loans
BEGIN
    SELECT RAISE(ABORT, 'debt_sale_loans rows are never changed');
END;
