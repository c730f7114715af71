-- Daily history: one run per `arrears run` from the store, one snapshot row per loan and
-- business date (the last run of a date replaces that date's rows), and the loan lifecycle
-- events derived from consecutive snapshots, which are never deleted.

CREATE TABLE runs (
    run_id            BIGSERIAL PRIMARY KEY,
    as_of             DATE NOT NULL,
    loans             BIGINT NOT NULL,
    business_timezone TEXT NOT NULL,
    buckets           TEXT NOT NULL, -- band names in order, comma-separated
    stages            TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE snapshots (
    as_of                       DATE NOT NULL,
    loan_id                     TEXT NOT NULL REFERENCES loans (loan_id),
    run_id                      BIGINT NOT NULL REFERENCES runs (run_id),
    borrower_id                 TEXT NOT NULL,
    status                      TEXT NOT NULL,
    dpd                         INTEGER NOT NULL CHECK (dpd >= 0),
    bucket                      TEXT NOT NULL,
    stage                       TEXT NOT NULL,
    due_to_date_minor           BIGINT NOT NULL,
    paid_minor                  BIGINT NOT NULL,
    overdue_minor               BIGINT NOT NULL,
    overdue_fee_minor           BIGINT NOT NULL,
    overdue_interest_minor      BIGINT NOT NULL,
    overdue_principal_minor     BIGINT NOT NULL,
    outstanding_principal_minor BIGINT NOT NULL,
    penalty_accrued_minor       BIGINT NOT NULL,
    penalty_paid_minor          BIGINT NOT NULL,
    penalty_rate_capped         BOOLEAN NOT NULL,
    credit_minor                BIGINT NOT NULL,
    oldest_unpaid_due_date      DATE,
    last_payment_date           DATE,
    PRIMARY KEY (as_of, loan_id),
    CHECK (overdue_minor = overdue_fee_minor + overdue_interest_minor + overdue_principal_minor)
);

CREATE TABLE loan_events (
    event_id     BIGSERIAL PRIMARY KEY,
    loan_id      TEXT NOT NULL REFERENCES loans (loan_id),
    effective_on DATE NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('status', 'bucket', 'stage')),
    from_value   TEXT,
    to_value     TEXT NOT NULL,
    run_id       BIGINT NOT NULL REFERENCES runs (run_id)
);
CREATE INDEX loan_events_by_loan ON loan_events (loan_id, effective_on);
CREATE INDEX loan_events_by_day ON loan_events (effective_on, run_id);

-- Which run's events are current for a date (re-running a date, or writing an earlier date
-- after a later one, computes that date's events again; the older ones stay for audit).
CREATE TABLE event_days (
    effective_on DATE PRIMARY KEY,
    run_id       BIGINT NOT NULL REFERENCES runs (run_id)
);

CREATE FUNCTION loan_events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'loan events are never deleted or changed';
END;
$$;
CREATE TRIGGER loan_events_never_deleted BEFORE DELETE OR UPDATE ON loan_events
    FOR EACH ROW EXECUTE FUNCTION loan_events_immutable();
CREATE TRIGGER loan_events_never_truncated BEFORE TRUNCATE ON loan_events
    FOR EACH STATEMENT EXECUTE FUNCTION loan_events_immutable();
