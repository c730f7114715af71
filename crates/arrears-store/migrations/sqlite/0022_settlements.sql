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
    offered_at        TEXT NOT NULL,
    offered_by        TEXT NOT NULL CHECK (length(offered_by) BETWEEN 1 AND 128),
    snapshot_as_of    TEXT NOT NULL CHECK (length(snapshot_as_of) = 10),
    stage             TEXT NOT NULL,
    dpd               INTEGER NOT NULL CHECK (dpd >= 0),
    principal_minor   INTEGER NOT NULL CHECK (principal_minor >= 0),
    interest_minor    INTEGER NOT NULL CHECK (interest_minor >= 0),
    fee_minor         INTEGER NOT NULL CHECK (fee_minor >= 0),
    penalty_minor     INTEGER NOT NULL CHECK (penalty_minor >= 0),
    outstanding_minor INTEGER NOT NULL CHECK (outstanding_minor > 0
        AND outstanding_minor = principal_minor + interest_minor + fee_minor + penalty_minor),
    -- The policy's limit for the loan's stage and dpd when it was offered.
    limit_bps         INTEGER NOT NULL CHECK (limit_bps BETWEEN 1 AND 9999),
    discount_bps      INTEGER NOT NULL CHECK (discount_bps BETWEEN 1 AND limit_bps),
    discount_minor    INTEGER NOT NULL CHECK (discount_minor >= 0),
    amount_minor      INTEGER NOT NULL
        CHECK (amount_minor > 0 AND amount_minor + discount_minor = outstanding_minor),
    -- The last business date on which it may be accepted.
    accept_by         TEXT NOT NULL CHECK (length(accept_by) = 10)
) STRICT;
CREATE INDEX settlements_by_loan ON settlements (loan_id);
CREATE INDEX settlements_by_borrower ON settlements (borrower_id);

CREATE TABLE settlement_instalments (
    settlement_id TEXT NOT NULL REFERENCES settlements (settlement_id),
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    due_date      TEXT NOT NULL CHECK (length(due_date) = 10),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (settlement_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE settlement_events (
    settlement_id TEXT NOT NULL REFERENCES settlements (settlement_id),
    event         TEXT NOT NULL CHECK (event IN ('accepted', 'paid', 'lapsed', 'withdrawn')),
    -- The business date it happened on, and when it was recorded.
    on_date       TEXT NOT NULL CHECK (length(on_date) = 10),
    at            TEXT NOT NULL,
    -- `borrower:<id>` (the portal), a staff username, or `daily-run`.
    actor         TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 160),
    write_off_id  TEXT UNIQUE REFERENCES write_offs (write_off_id),
    PRIMARY KEY (settlement_id, event),
    CHECK (event = 'paid' OR write_off_id IS NULL)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER settlements_never_deleted BEFORE DELETE ON settlements
BEGIN
    SELECT RAISE(ABORT, 'settlements rows are never deleted');
END;
CREATE TRIGGER settlements_never_updated BEFORE UPDATE ON settlements
BEGIN
    SELECT RAISE(ABORT, 'settlements rows are never changed');
END;
CREATE TRIGGER settlement_instalments_never_deleted BEFORE DELETE ON settlement_instalments
BEGIN
    SELECT RAISE(ABORT, 'settlement_instalments rows are never deleted');
END;
CREATE TRIGGER settlement_instalments_never_updated BEFORE UPDATE ON settlement_instalments
BEGIN
    SELECT RAISE(ABORT, 'settlement_instalments rows are never changed');
END;
CREATE TRIGGER settlement_events_never_deleted BEFORE DELETE ON settlement_events
BEGIN
    SELECT RAISE(ABORT, 'settlement_events rows are never deleted');
END;
CREATE TRIGGER settlement_events_never_updated BEFORE UPDATE ON settlement_events
BEGIN
    SELECT RAISE(ABORT, 'settlement_events rows are never changed');
END;
