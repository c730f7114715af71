-- Daily history: one run per `arrears run` from the store, one snapshot row per loan and
-- business date (the last run of a date replaces that date's rows), and the loan lifecycle
-- events derived from consecutive snapshots, which are never deleted.

CREATE TABLE runs (
    run_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    as_of             TEXT NOT NULL,
    loans             INTEGER NOT NULL,
    business_timezone TEXT NOT NULL,
    buckets           TEXT NOT NULL, -- band names in order, comma-separated
    stages            TEXT NOT NULL,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE snapshots (
    as_of                       TEXT NOT NULL,
    loan_id                     TEXT NOT NULL REFERENCES loans (loan_id),
    run_id                      INTEGER NOT NULL REFERENCES runs (run_id),
    borrower_id                 TEXT NOT NULL,
    status                      TEXT NOT NULL,
    dpd                         INTEGER NOT NULL CHECK (dpd >= 0),
    bucket                      TEXT NOT NULL,
    stage                       TEXT NOT NULL,
    due_to_date_minor           INTEGER NOT NULL,
    paid_minor                  INTEGER NOT NULL,
    overdue_minor               INTEGER NOT NULL,
    overdue_fee_minor           INTEGER NOT NULL,
    overdue_interest_minor      INTEGER NOT NULL,
    overdue_principal_minor     INTEGER NOT NULL,
    outstanding_principal_minor INTEGER NOT NULL,
    penalty_accrued_minor       INTEGER NOT NULL,
    penalty_paid_minor          INTEGER NOT NULL,
    penalty_rate_capped         INTEGER NOT NULL CHECK (penalty_rate_capped IN (0, 1)),
    credit_minor                INTEGER NOT NULL,
    oldest_unpaid_due_date      TEXT,
    last_payment_date           TEXT,
    PRIMARY KEY (as_of, loan_id),
    CHECK (overdue_minor = overdue_fee_minor + overdue_interest_minor + overdue_principal_minor)
) STRICT, WITHOUT ROWID;

CREATE TABLE loan_events (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    loan_id      TEXT NOT NULL REFERENCES loans (loan_id),
    effective_on TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('status', 'bucket', 'stage')),
    from_value   TEXT,
    to_value     TEXT NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES runs (run_id)
) STRICT;
CREATE INDEX loan_events_by_loan ON loan_events (loan_id, effective_on);
CREATE INDEX loan_events_by_day ON loan_events (effective_on, run_id);

-- Which run's events are current for a date (re-running a date, or writing an earlier date
-- after a later one, computes that date's events again; the older ones stay for audit).
CREATE TABLE event_days (
    effective_on TEXT PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs (run_id)
) STRICT;

CREATE TRIGGER loan_events_never_deleted BEFORE DELETE ON loan_events
BEGIN
    SELECT RAISE(ABORT, 'loan events are never deleted');
END;
CREATE TRIGGER loan_events_never_updated BEFORE UPDATE ON loan_events
BEGIN
    SELECT RAISE(ABORT, 'loan events are never changed');
END;
