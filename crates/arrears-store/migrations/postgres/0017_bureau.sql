-- Credit-bureau reporting (issue 15 item 2, docs/bureau.md). `bureau_lines`: what each monthly
-- bureau file said about each loan, or why it said nothing (a negative line the compliance
-- engine withheld, with its rule ids). A month is reported once: its lines are what was sent
-- and are never changed or deleted; a later file corrects an earlier month with a line of
-- kind 'correction' naming it in `corrects` ('' for a month's own line).
CREATE TABLE bureau_lines (
    period         TEXT NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    loan_id        TEXT NOT NULL REFERENCES loans (loan_id),
    kind           TEXT NOT NULL CHECK (kind IN ('regular', 'correction')),
    corrects       TEXT NOT NULL CHECK ((kind = 'regular') = (corrects = '')),
    borrower_id    TEXT NOT NULL REFERENCES borrowers (borrower_id),
    status         TEXT NOT NULL CHECK (status IN ('current', 'late_30', 'late_60', 'late_90',
                       'late_120', 'late_150', 'late_180', 'charged_off', 'paid', 'sold', 'disputed')),
    actual         TEXT NOT NULL CHECK (actual IN ('current', 'late_30', 'late_60', 'late_90',
                       'late_120', 'late_150', 'late_180', 'charged_off', 'paid', 'sold', 'disputed')),
    reported       BOOLEAN NOT NULL,
    negative       BOOLEAN NOT NULL,
    -- Space-separated rule ids of a withheld line; '' for a reported one.
    rule_ids       TEXT NOT NULL CHECK (reported = (rule_ids = '')),
    month_char     TEXT NOT NULL CHECK (length(month_char) = 1),
    dpd            BIGINT NOT NULL CHECK (dpd >= 0),
    balance_minor  BIGINT NOT NULL CHECK (balance_minor >= 0),
    past_due_minor BIGINT NOT NULL CHECK (past_due_minor >= 0),
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    compliance     TEXT CHECK (compliance IN ('XB', 'XH')),
    dispute_id     TEXT REFERENCES credit_disputes (dispute_id),
    recorded_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (period, loan_id, kind, corrects)
);
CREATE INDEX bureau_lines_by_borrower ON bureau_lines (borrower_id, period);

-- How a resolved credit dispute ended: 'borrower' (what was reported was wrong: the next file
-- corrects it) or 'lender' (it stands). One per dispute, recorded with or after its
-- resolution, never changed.
CREATE TABLE credit_dispute_outcomes (
    dispute_id  TEXT PRIMARY KEY REFERENCES credit_dispute_resolutions (dispute_id),
    outcome     TEXT NOT NULL CHECK (outcome IN ('borrower', 'lender')),
    decided_by  TEXT NOT NULL CHECK (length(decided_by) BETWEEN 1 AND 128),
    recorded_at TIMESTAMPTZ NOT NULL
);

CREATE TRIGGER bureau_lines_immutable BEFORE DELETE OR UPDATE ON bureau_lines
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER bureau_lines_never_truncated BEFORE TRUNCATE ON bureau_lines
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER credit_dispute_outcomes_immutable BEFORE DELETE OR UPDATE ON credit_dispute_outcomes
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER credit_dispute_outcomes_never_truncated BEFORE TRUNCATE ON credit_dispute_outcomes
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
