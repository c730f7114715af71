-- Settlement (issue 15 item 4, docs/settlement.md): a discounted lump sum or a discounted
-- plan of a loan's balances, within the lender's limits by stage and dpd (the policy's
-- `[[settlement]]`), the balances it discounts (the latest snapshot's, by component), its
-- instalments, and what became of it: accepted (by an agent or the borrower), paid (the
-- remainder then written off, `write_off_id`, none when nothing was left), lapsed (nothing forgiven) or withdrawn.
-- A settlement's state is its latest event; each event happens at most once. Append-only.
CREATE TABLE settlements (
    settlement_id     TEXT PRIMARY KEY CHECK (length(settlement_id) BETWEEN 1 AND 128),
    loan_id           TEXT NOT NULL REFERENCES loans (loan_id),
    borrower_id       TEXT NOT NULL REFERENCES borrowers (borrower_id),
    currency          TEXT NOT NULL CHECK (length(currency) = 3),
    offered_at        TIMESTAMPTZ NOT NULL,
    offered_by        TEXT NOT NULL CHECK (length(offered_by) BETWEEN 1 AND 128),
    snapshot_as_of    DATE NOT NULL,
    stage             TEXT NOT NULL,
    dpd               BIGINT NOT NULL CHECK (dpd >= 0),
    principal_minor   BIGINT NOT NULL CHECK (principal_minor >= 0),
    interest_minor    BIGINT NOT NULL CHECK (interest_minor >= 0),
    fee_minor         BIGINT NOT NULL CHECK (fee_minor >= 0),
    penalty_minor     BIGINT NOT NULL CHECK (penalty_minor >= 0),
    outstanding_minor BIGINT NOT NULL CHECK (outstanding_minor > 0
        AND outstanding_minor = principal_minor + interest_minor + fee_minor + penalty_minor),
    -- The policy's limit for the loan's stage and dpd when it was offered.
    limit_bps         BIGINT NOT NULL CHECK (limit_bps BETWEEN 1 AND 9999),
    discount_bps      BIGINT NOT NULL CHECK (discount_bps BETWEEN 1 AND limit_bps),
    discount_minor    BIGINT NOT NULL CHECK (discount_minor >= 0),
    amount_minor      BIGINT NOT NULL
        CHECK (amount_minor > 0 AND amount_minor + discount_minor = outstanding_minor),
    -- The last business date on which it may be accepted.
    accept_by         DATE NOT NULL
);
CREATE INDEX settlements_by_loan ON settlements (loan_id);
CREATE INDEX settlements_by_borrower ON settlements (borrower_id);

CREATE TABLE settlement_instalments (
    settlement_id TEXT NOT NULL REFERENCES settlements (settlement_id),
    seq           BIGINT NOT NULL CHECK (seq >= 1),
    due_date      DATE NOT NULL,
    amount_minor  BIGINT NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (settlement_id, seq)
);

CREATE TABLE settlement_events (
    settlement_id TEXT NOT NULL REFERENCES settlements (settlement_id),
    event         TEXT NOT NULL CHECK (event IN ('accepted', 'paid', 'lapsed', 'withdrawn')),
    -- The business date it happened on, and when it was recorded.
    on_date       DATE NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    -- `borrower:<id>` (the portal), a staff username, or `daily-run`.
    actor         TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 160),
    write_off_id  TEXT UNIQUE REFERENCES write_offs (write_off_id),
    PRIMARY KEY (settlement_id, event),
    CHECK (event = 'paid' OR write_off_id IS NULL)
);

CREATE TRIGGER settlements_immutable BEFORE DELETE OR UPDATE ON settlements
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER settlements_never_truncated BEFORE TRUNCATE ON settlements
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER settlement_instalments_immutable BEFORE DELETE OR UPDATE ON settlement_instalments
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER settlement_instalments_never_truncated BEFORE TRUNCATE ON settlement_instalments
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER settlement_events_immutable BEFORE DELETE OR UPDATE ON settlement_events
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER settlement_events_never_truncated BEFORE TRUNCATE ON settlement_events
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
