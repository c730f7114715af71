-- The court path (issue 15 item 1, docs/legal.md): referrals the plan proposes and a
-- supervisor decides, the case filed from an approved referral, a judgment's date, a closed
-- case's outcome, enforcement measures with their status history, and the case's costs.
-- Every table is append-only, like the work tables of 0005: a referral is `proposed` until
-- it has a decision row; a measure's status is its latest update row.

-- One row per plan proposal of `legal_review` (at most one undecided referral per loan).
-- The amount claimed is the outstanding total of the loan's latest snapshot when proposed.
CREATE TABLE legal_referrals (
    referral_id          TEXT PRIMARY KEY CHECK (length(referral_id) BETWEEN 1 AND 128),
    loan_id              TEXT NOT NULL REFERENCES loans (loan_id),
    borrower_id          TEXT NOT NULL REFERENCES borrowers (borrower_id),
    proposed_on          DATE NOT NULL,
    amount_claimed_minor BIGINT NOT NULL CHECK (amount_claimed_minor > 0),
    snapshot_as_of       DATE NOT NULL,
    -- The plan's action and strategy rule that proposed it.
    action_id            TEXT NOT NULL,
    rule_id              TEXT NOT NULL,
    proposed_by          TEXT NOT NULL,
    recorded_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX legal_referrals_by_loan ON legal_referrals (loan_id);

-- A supervisor's decision, once per referral, always with a reason. An approval is recorded
-- only when the compliance check of `legal_referral` allowed it at `decided_at`.
CREATE TABLE legal_referral_decisions (
    referral_id TEXT PRIMARY KEY REFERENCES legal_referrals (referral_id),
    status      TEXT NOT NULL CHECK (status IN ('approved', 'rejected')),
    reason      TEXT NOT NULL CHECK (length(trim(reason)) BETWEEN 1 AND 2000),
    decided_by  TEXT NOT NULL CHECK (length(decided_by) BETWEEN 1 AND 128),
    decided_at  TIMESTAMPTZ NOT NULL
);

-- The case filed from an approved referral (one case per referral).
CREATE TABLE legal_case_referrals (
    case_id     TEXT PRIMARY KEY REFERENCES legal_cases (case_id),
    referral_id TEXT NOT NULL UNIQUE REFERENCES legal_referrals (referral_id)
);

-- The judgment's date (the update row holds the amount awarded and when it was recorded).
CREATE TABLE legal_case_judgments (
    case_id     TEXT PRIMARY KEY REFERENCES legal_cases (case_id),
    judgment_on DATE NOT NULL
);

-- How a closed case ended.
CREATE TABLE legal_case_outcomes (
    case_id TEXT PRIMARY KEY REFERENCES legal_cases (case_id),
    outcome TEXT NOT NULL CHECK (outcome IN ('satisfied', 'withdrawn', 'terminated'))
);

CREATE TABLE legal_measures (
    measure_id  TEXT PRIMARY KEY CHECK (length(measure_id) BETWEEN 1 AND 128),
    case_id     TEXT NOT NULL REFERENCES legal_cases (case_id),
    kind        TEXT NOT NULL CHECK (kind IN ('asset_freeze', 'account_freeze', 'wage_garnishment',
                                              'dishonest_debtor_listing', 'spending_restriction')),
    ordered_on  DATE NOT NULL,
    authority   TEXT NOT NULL CHECK (length(trim(authority)) BETWEEN 1 AND 200),
    actor       TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX legal_measures_by_case ON legal_measures (case_id);

-- A measure's statuses: applied or in_force when recorded; applied -> in_force | refused;
-- in_force -> lifted. Each status at most once.
CREATE TABLE legal_measure_statuses (
    change_id  BIGSERIAL PRIMARY KEY,
    measure_id TEXT NOT NULL REFERENCES legal_measures (measure_id),
    status     TEXT NOT NULL CHECK (status IN ('applied', 'in_force', 'refused', 'lifted')),
    on_date    DATE NOT NULL,
    actor      TEXT NOT NULL,
    UNIQUE (measure_id, status)
);

CREATE TABLE legal_case_costs (
    cost_id      TEXT PRIMARY KEY CHECK (length(cost_id) BETWEEN 1 AND 128),
    case_id      TEXT NOT NULL REFERENCES legal_cases (case_id),
    kind         TEXT NOT NULL CHECK (kind IN ('court_fee', 'lawyer_fee', 'enforcement_fee', 'other')),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    incurred_on  DATE NOT NULL,
    actor        TEXT NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX legal_case_costs_by_case ON legal_case_costs (case_id);

CREATE TRIGGER legal_referrals_immutable BEFORE DELETE OR UPDATE ON legal_referrals
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_referrals_never_truncated BEFORE TRUNCATE ON legal_referrals
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_referral_decisions_immutable BEFORE DELETE OR UPDATE ON legal_referral_decisions
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_referral_decisions_never_truncated BEFORE TRUNCATE ON legal_referral_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_referrals_immutable BEFORE DELETE OR UPDATE ON legal_case_referrals
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_referrals_never_truncated BEFORE TRUNCATE ON legal_case_referrals
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_judgments_immutable BEFORE DELETE OR UPDATE ON legal_case_judgments
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_judgments_never_truncated BEFORE TRUNCATE ON legal_case_judgments
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_outcomes_immutable BEFORE DELETE OR UPDATE ON legal_case_outcomes
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_outcomes_never_truncated BEFORE TRUNCATE ON legal_case_outcomes
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_measures_immutable BEFORE DELETE OR UPDATE ON legal_measures
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_measures_never_truncated BEFORE TRUNCATE ON legal_measures
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_measure_statuses_immutable BEFORE DELETE OR UPDATE ON legal_measure_statuses
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_measure_statuses_never_truncated BEFORE TRUNCATE ON legal_measure_statuses
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_costs_immutable BEFORE DELETE OR UPDATE ON legal_case_costs
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_costs_never_truncated BEFORE TRUNCATE ON legal_case_costs
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
