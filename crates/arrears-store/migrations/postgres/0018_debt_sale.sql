-- Debt sale (issue 14 item 3, docs/sale.md): a sale of loans to a buyer at a price in basis
-- points of face value, and each loan sold with its balances by component on the sale date,
-- its face value (their sum), its price (face x bps / 10000, rounded half-to-even once per
-- loan) and its loss (face - price). Each loan also gets its `sales` lifecycle record (ALL-SOLD)
-- named in `lifecycle_sale_id`. A loan is sold once. Both tables are append-only.
CREATE TABLE debt_sales (
    sale_id     TEXT PRIMARY KEY CHECK (length(sale_id) BETWEEN 1 AND 128),
    buyer       TEXT NOT NULL CHECK (length(trim(buyer)) BETWEEN 1 AND 200),
    -- The business date of the sale, and its first instant in the business time zone.
    sold_on     DATE NOT NULL,
    sold_at     TIMESTAMPTZ NOT NULL,
    price_bps   BIGINT NOT NULL CHECK (price_bps BETWEEN 0 AND 10000),
    loans       BIGINT NOT NULL CHECK (loans > 0),
    recorded_by TEXT NOT NULL CHECK (length(recorded_by) BETWEEN 1 AND 128),
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE debt_sale_loans (
    sale_id           TEXT NOT NULL REFERENCES debt_sales (sale_id),
    loan_id           TEXT NOT NULL UNIQUE REFERENCES loans (loan_id),
    borrower_id       TEXT NOT NULL REFERENCES borrowers (borrower_id),
    currency          TEXT NOT NULL CHECK (length(currency) = 3),
    principal_minor   BIGINT NOT NULL CHECK (principal_minor >= 0),
    interest_minor    BIGINT NOT NULL CHECK (interest_minor >= 0),
    fee_minor         BIGINT NOT NULL CHECK (fee_minor >= 0),
    penalty_minor     BIGINT NOT NULL CHECK (penalty_minor >= 0),
    face_minor        BIGINT NOT NULL
        CHECK (face_minor > 0 AND face_minor = principal_minor + interest_minor + fee_minor + penalty_minor),
    price_minor       BIGINT NOT NULL CHECK (price_minor >= 0 AND price_minor <= face_minor),
    loss_minor        BIGINT NOT NULL CHECK (loss_minor = face_minor - price_minor),
    lifecycle_sale_id TEXT NOT NULL UNIQUE REFERENCES sales (sale_id),
    PRIMARY KEY (sale_id, loan_id)
);
CREATE INDEX debt_sale_loans_by_borrower ON debt_sale_loans (borrower_id);

CREATE TRIGGER debt_sales_immutable BEFORE DELETE OR UPDATE ON debt_sales
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER debt_sales_never_truncated BEFORE TRUNCATE ON debt_sales
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER debt_sale_loans_immutable BEFORE DELETE OR UPDATE ON debt_sale_loans
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER debt_sale_loans_never_truncated BEFORE TRUNCATE ON debt_sale_loans
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
