-- The collections work recorded through the API (docs/work.md): payment plans, agency
-- placements and recalls, legal cases, write-offs, and the idempotency record of every such
-- write. Every table is append-only: a plan's or a case's state is its latest status row, a
-- placement is live until it has a recall row. Nothing is changed or deleted.

-- One row per write: the same key with the same body is "already recorded", another body a
-- conflict. The key is the kind and the id of what the write creates (`placement:P1`,
-- `plan_status:PP1:active`, …).
CREATE TABLE work_requests (
    request_key TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    body_sha256 TEXT NOT NULL CHECK (length(body_sha256) = 64),
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    actor       TEXT NOT NULL
) STRICT;

CREATE TABLE payment_plans (
    plan_id     TEXT PRIMARY KEY,
    loan_id     TEXT NOT NULL REFERENCES loans (loan_id),
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE INDEX payment_plans_by_loan ON payment_plans (loan_id);

CREATE TABLE payment_plan_installments (
    plan_id      TEXT NOT NULL REFERENCES payment_plans (plan_id),
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    due_date     TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (plan_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE payment_plan_statuses (
    change_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id     TEXT NOT NULL REFERENCES payment_plans (plan_id),
    status      TEXT NOT NULL
                CHECK (status IN ('proposed', 'active', 'completed', 'broken', 'cancelled')),
    at          TEXT NOT NULL,
    reason      TEXT,
    actor       TEXT NOT NULL,
    UNIQUE (plan_id, status)
) STRICT;

CREATE TABLE placements (
    placement_id   TEXT PRIMARY KEY,
    loan_id        TEXT NOT NULL REFERENCES loans (loan_id),
    agency_id      TEXT NOT NULL,
    placed_at      TEXT NOT NULL,
    commission_bps INTEGER CHECK (commission_bps BETWEEN 0 AND 10000),
    actor          TEXT NOT NULL,
    recorded_at    TEXT NOT NULL
) STRICT;
CREATE INDEX placements_by_loan ON placements (loan_id);

CREATE TABLE placement_recalls (
    placement_id TEXT PRIMARY KEY REFERENCES placements (placement_id),
    recalled_at  TEXT NOT NULL,
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
) STRICT;

CREATE TABLE legal_cases (
    case_id              TEXT PRIMARY KEY,
    loan_id              TEXT NOT NULL REFERENCES loans (loan_id),
    court                TEXT NOT NULL,
    case_number          TEXT NOT NULL,
    amount_claimed_minor INTEGER NOT NULL CHECK (amount_claimed_minor > 0),
    actor                TEXT NOT NULL,
    recorded_at          TEXT NOT NULL
) STRICT;
CREATE INDEX legal_cases_by_loan ON legal_cases (loan_id);

CREATE TABLE legal_case_updates (
    update_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id              TEXT NOT NULL REFERENCES legal_cases (case_id),
    status               TEXT NOT NULL CHECK (status IN ('filed', 'judgment', 'enforcement', 'closed')),
    at                   TEXT NOT NULL,
    amount_awarded_minor INTEGER CHECK (amount_awarded_minor >= 0),
    note                 TEXT,
    actor                TEXT NOT NULL,
    UNIQUE (case_id, status)
) STRICT;

CREATE TABLE write_offs (
    write_off_id      TEXT PRIMARY KEY,
    loan_id           TEXT NOT NULL REFERENCES loans (loan_id),
    amount_minor      INTEGER NOT NULL CHECK (amount_minor > 0),
    reason            TEXT NOT NULL,
    approved_by       TEXT NOT NULL,
    snapshot_as_of    TEXT NOT NULL,
    outstanding_minor INTEGER NOT NULL,
    actor             TEXT NOT NULL,
    recorded_at       TEXT NOT NULL
) STRICT;
CREATE INDEX write_offs_by_loan ON write_offs (loan_id);
CREATE TRIGGER work_requests_never_deleted BEFORE DELETE ON work_requests
BEGIN
    SELECT RAISE(ABORT, 'work_requests rows are never deleted');
END;
CREATE TRIGGER work_requests_never_updated BEFORE UPDATE ON work_requests
BEGIN
    SELECT RAISE(ABORT, 'work_requests rows are never changed');
END;
CREATE TRIGGER payment_plans_never_deleted BEFORE DELETE ON payment_plans
BEGIN
    SELECT RAISE(ABORT, 'payment_plans rows are never deleted');
END;
CREATE TRIGGER payment_plans_never_updated BEFORE UPDATE ON payment_plans
BEGIN
    SELECT RAISE(ABORT, 'payment_plans rows are never changed');
END;
CREATE TRIGGER payment_plan_installments_never_deleted BEFORE DELETE ON payment_plan_installments
BEGIN
    SELECT RAISE(ABORT, 'payment_plan_installments rows are never deleted');
END;
CREATE TRIGGER payment_plan_installments_never_updated BEFORE UPDATE ON payment_plan_installments
BEGIN
    SELECT RAISE(ABORT, 'payment_plan_installments rows are never changed');
END;
CREATE TRIGGER payment_plan_statuses_never_deleted BEFORE DELETE ON payment_plan_statuses
BEGIN
    SELECT RAISE(ABORT, 'payment_plan_statuses rows are never deleted');
END;
CREATE TRIGGER payment_plan_statuses_never_updated BEFORE UPDATE ON payment_plan_statuses
BEGIN
    SELECT RAISE(ABORT, 'payment_plan_statuses rows are never changed');
END;
CREATE TRIGGER placements_never_deleted BEFORE DELETE ON placements
BEGIN
    SELECT RAISE(ABORT, 'placements rows are never deleted');
END;
CREATE TRIGGER placements_never_updated BEFORE UPDATE ON placements
BEGIN
    SELECT RAISE(ABORT, 'placements rows are never changed');
END;
CREATE TRIGGER placement_recalls_never_deleted BEFORE DELETE ON placement_recalls
BEGIN
    SELECT RAISE(ABORT, 'placement_recalls rows are never deleted');
END;
CREATE TRIGGER placement_recalls_never_updated BEFORE UPDATE ON placement_recalls
BEGIN
    SELECT RAISE(ABORT, 'placement_recalls rows are never changed');
END;
CREATE TRIGGER legal_cases_never_deleted BEFORE DELETE ON legal_cases
BEGIN
    SELECT RAISE(ABORT, 'legal_cases rows are never deleted');
END;
CREATE TRIGGER legal_cases_never_updated BEFORE UPDATE ON legal_cases
BEGIN
    SELECT RAISE(ABORT, 'legal_cases rows are never changed');
END;
CREATE TRIGGER legal_case_updates_never_deleted BEFORE DELETE ON legal_case_updates
BEGIN
    SELECT RAISE(ABORT, 'legal_case_updates rows are never deleted');
END;
CREATE TRIGGER legal_case_updates_never_updated BEFORE UPDATE ON legal_case_updates
BEGIN
    SELECT RAISE(ABORT, 'legal_case_updates rows are never changed');
END;
CREATE TRIGGER write_offs_never_deleted BEFORE DELETE ON write_offs
BEGIN
    SELECT RAISE(ABORT, 'write_offs rows are never deleted');
END;
CREATE TRIGGER write_offs_never_updated BEFORE UPDATE ON write_offs
BEGIN
    SELECT RAISE(ABORT, 'write_offs rows are never changed');
END;
