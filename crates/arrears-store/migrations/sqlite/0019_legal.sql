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
    proposed_on          TEXT NOT NULL CHECK (length(proposed_on) = 10),
    amount_claimed_minor INTEGER NOT NULL CHECK (amount_claimed_minor > 0),
    snapshot_as_of       TEXT NOT NULL CHECK (length(snapshot_as_of) = 10),
    -- The plan's action and strategy rule that proposed it.
    action_id            TEXT NOT NULL,
    rule_id              TEXT NOT NULL,
    proposed_by          TEXT NOT NULL,
    recorded_at          TEXT NOT NULL
) STRICT;
CREATE INDEX legal_referrals_by_loan ON legal_referrals (loan_id);

-- A supervisor's decision, once per referral, always with a reason. An approval is recorded
-- only when the compliance check of `legal_referral` allowed it at `decided_at`.
CREATE TABLE legal_referral_decisions (
    referral_id TEXT PRIMARY KEY REFERENCES legal_referrals (referral_id),
    status      TEXT NOT NULL CHECK (status IN ('approved', 'rejected')),
    reason      TEXT NOT NULL CHECK (length(trim(reason)) BETWEEN 1 AND 2000),
    decided_by  TEXT NOT NULL CHECK (length(decided_by) BETWEEN 1 AND 128),
    decided_at  TEXT NOT NULL
) STRICT;

-- The case filed from an approved referral (one case per referral).
CREATE TABLE legal_case_referrals (
    case_id     TEXT PRIMARY KEY REFERENCES legal_cases (case_id),
    referral_id TEXT NOT NULL UNIQUE REFERENCES legal_referrals (referral_id)
) STRICT;

-- The judgment's date (the update row holds the amount awarded and when it was recorded).
CREATE TABLE legal_case_judgments (
    case_id     TEXT PRIMARY KEY REFERENCES legal_cases (case_id),
    judgment_on TEXT NOT NULL CHECK (length(judgment_on) = 10)
) STRICT;

-- How a closed case ended.
CREATE TABLE legal_case_outcomes (
    case_id TEXT PRIMARY KEY REFERENCES legal_cases (case_id),
    outcome TEXT NOT NULL CHECK (outcome IN ('satisfied', 'withdrawn', 'terminated'))
) STRICT;

CREATE TABLE legal_measures (
    measure_id  TEXT PRIMARY KEY CHECK (length(measure_id) BETWEEN 1 AND 128),
    case_id     TEXT NOT NULL REFERENCES legal_cases (case_id),
    kind        TEXT NOT NULL CHECK (kind IN ('asset_freeze', 'account_freeze', 'wage_garnishment',
                                              'dishonest_debtor_listing', 'spending_restriction')),
    ordered_on  TEXT NOT NULL CHECK (length(ordered_on) = 10),
    authority   TEXT NOT NULL CHECK (length(trim(authority)) BETWEEN 1 AND 200),
    actor       TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE INDEX legal_measures_by_case ON legal_measures (case_id);

-- A measure's statuses: applied or in_force when recorded; applied -> in_force | refused;
-- in_force -> lifted. Each status at most once.
CREATE TABLE legal_measure_statuses (
    change_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    measure_id TEXT NOT NULL REFERENCES legal_measures (measure_id),
    status     TEXT NOT NULL CHECK (status IN ('applied', 'in_force', 'refused', 'lifted')),
    on_date    TEXT NOT NULL CHECK (length(on_date) = 10),
    actor      TEXT NOT NULL,
    UNIQUE (measure_id, status)
) STRICT;

CREATE TABLE legal_case_costs (
    cost_id      TEXT PRIMARY KEY CHECK (length(cost_id) BETWEEN 1 AND 128),
    case_id      TEXT NOT NULL REFERENCES legal_cases (case_id),
    kind         TEXT NOT NULL CHECK (kind IN ('court_fee', 'lawyer_fee', 'enforcement_fee', 'other')),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    incurred_on  TEXT NOT NULL CHECK (length(incurred_on) = 10),
    actor        TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
) STRICT;
CREATE INDEX legal_case_costs_by_case ON legal_case_costs (case_id);
CREATE TRIGGER legal_referrals_never_deleted BEFORE DELETE ON legal_referrals
BEGIN
    SELECT RAISE(ABORT, 'legal_referrals rows are never deleted');
END;
CREATE TRIGGER legal_referrals_never_updated BEFORE UPDATE ON legal_referrals
BEGIN
    SELECT RAISE(ABORT, 'legal_referrals rows are never changed');
END;
CREATE TRIGGER legal_referral_decisions_never_deleted BEFORE DELETE ON legal_referral_decisions
BEGIN
    SELECT RAISE(ABORT, 'legal_referral_decisions rows are never deleted');
END;
CREATE TRIGGER legal_referral_decisions_never_updated BEFORE UPDATE ON legal_referral_decisions
BEGIN
    SELECT RAISE(ABORT, 'legal_referral_decisions rows are never changed');
END;
CREATE TRIGGER legal_case_referrals_never_deleted BEFORE DELETE ON legal_case_referrals
BEGIN
    SELECT RAISE(ABORT, 'legal_case_referrals rows are never deleted');
END;
CREATE TRIGGER legal_case_referrals_never_updated BEFORE UPDATE ON legal_case_referrals
BEGIN
    SELECT RAISE(ABORT, 'legal_case_referrals rows are never changed');
END;
CREATE TRIGGER legal_case_judgments_never_deleted BEFORE DELETE ON legal_case_judgments
BEGIN
    SELECT RAISE(ABORT, 'legal_case_judgments rows are never deleted');
END;
CREATE TRIGGER legal_case_judgments_never_updated BEFORE UPDATE ON legal_case_judgments
BEGIN
    SELECT RAISE(ABORT, 'legal_case_judgments rows are never changed');
END;
CREATE TRIGGER legal_case_outcomes_never_deleted BEFORE DELETE ON legal_case_outcomes
BEGIN
    SELECT RAISE(ABORT, 'legal_case_outcomes rows are never deleted');
END;
CREATE TRIGGER legal_case_outcomes_never_updated BEFORE UPDATE ON legal_case_outcomes
BEGIN
    SELECT RAISE(ABORT, 'legal_case_outcomes rows are never changed');
END;
CREATE TRIGGER legal_measures_never_deleted BEFORE DELETE ON legal_measures
BEGIN
    SELECT RAISE(ABORT, 'legal_measures rows are never deleted');
END;
CREATE TRIGGER legal_measures_never_updated BEFORE UPDATE ON legal_measures
BEGIN
    SELECT RAISE(ABORT, 'legal_measures rows are never changed');
END;
CREATE TRIGGER legal_measure_statuses_never_deleted BEFORE DELETE ON legal_measure_statuses
BEGIN
    SELECT RAISE(ABORT, 'legal_measure_statuses rows are never deleted');
END;
CREATE TRIGGER legal_measure_statuses_never_updated BEFORE UPDATE ON legal_measure_statuses
BEGIN
    SELECT RAISE(ABORT, 'legal_measure_statuses rows are never changed');
END;
CREATE TRIGGER legal_case_costs_never_deleted BEFORE DELETE ON legal_case_costs
BEGIN
    SELECT RAISE(ABORT, 'legal_case_costs rows are never deleted');
END;
CREATE TRIGGER legal_case_costs_never_updated BEFORE UPDATE ON legal_case_costs
BEGIN
    SELECT RAISE(ABORT, 'legal_case_costs rows are never changed');
END;
