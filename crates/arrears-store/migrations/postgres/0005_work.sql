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
    received_at TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL
);

CREATE TABLE payment_plans (
    plan_id     TEXT PRIMARY KEY,
    loan_id     TEXT NOT NULL REFERENCES loans (loan_id),
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX payment_plans_by_loan ON payment_plans (loan_id);

CREATE TABLE payment_plan_installments (
    plan_id      TEXT NOT NULL REFERENCES payment_plans (plan_id),
    seq          BIGINT NOT NULL CHECK (seq >= 1),
    due_date     DATE NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (plan_id, seq)
);

CREATE TABLE payment_plan_statuses (
    change_id   BIGSERIAL PRIMARY KEY,
    plan_id     TEXT NOT NULL REFERENCES payment_plans (plan_id),
    status      TEXT NOT NULL
                CHECK (status IN ('proposed', 'active', 'completed', 'broken', 'cancelled')),
    at          TIMESTAMPTZ NOT NULL,
    reason      TEXT,
    actor       TEXT NOT NULL,
    UNIQUE (plan_id, status)
);

CREATE TABLE placements (
    placement_id   TEXT PRIMARY KEY,
    loan_id        TEXT NOT NULL REFERENCES loans (loan_id),
    agency_id      TEXT NOT NULL,
    placed_at      TIMESTAMPTZ NOT NULL,
    commission_bps BIGINT CHECK (commission_bps BETWEEN 0 AND 10000),
    actor          TEXT NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX placements_by_loan ON placements (loan_id);

CREATE TABLE placement_recalls (
    placement_id TEXT PRIMARY KEY REFERENCES placements (placement_id),
    recalled_at  TIMESTAMPTZ NOT NULL,
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE legal_cases (
    case_id              TEXT PRIMARY KEY,
    loan_id              TEXT NOT NULL REFERENCES loans (loan_id),
    court                TEXT NOT NULL,
    case_number          TEXT NOT NULL,
    amount_claimed_minor BIGINT NOT NULL CHECK (amount_claimed_minor > 0),
    actor                TEXT NOT NULL,
    recorded_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX legal_cases_by_loan ON legal_cases (loan_id);

CREATE TABLE legal_case_updates (
    update_id            BIGSERIAL PRIMARY KEY,
    case_id              TEXT NOT NULL REFERENCES legal_cases (case_id),
    status               TEXT NOT NULL CHECK (status IN ('filed', 'judgment', 'enforcement', 'closed')),
    at                   TIMESTAMPTZ NOT NULL,
    amount_awarded_minor BIGINT CHECK (amount_awarded_minor >= 0),
    note                 TEXT,
    actor                TEXT NOT NULL,
    UNIQUE (case_id, status)
);

CREATE TABLE write_offs (
    write_off_id      TEXT PRIMARY KEY,
    loan_id           TEXT NOT NULL REFERENCES loans (loan_id),
    amount_minor      BIGINT NOT NULL CHECK (amount_minor > 0),
    reason            TEXT NOT NULL,
    approved_by       TEXT NOT NULL,
    snapshot_as_of    DATE NOT NULL,
    outstanding_minor BIGINT NOT NULL,
    actor             TEXT NOT NULL,
    recorded_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX write_offs_by_loan ON write_offs (loan_id);

CREATE FUNCTION work_rows_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted or changed', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER work_requests_immutable BEFORE DELETE OR UPDATE ON work_requests
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER work_requests_never_truncated BEFORE TRUNCATE ON work_requests
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER payment_plans_immutable BEFORE DELETE OR UPDATE ON payment_plans
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER payment_plans_never_truncated BEFORE TRUNCATE ON payment_plans
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER payment_plan_installments_immutable BEFORE DELETE OR UPDATE ON payment_plan_installments
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER payment_plan_installments_never_truncated BEFORE TRUNCATE ON payment_plan_installments
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER payment_plan_statuses_immutable BEFORE DELETE OR UPDATE ON payment_plan_statuses
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER payment_plan_statuses_never_truncated BEFORE TRUNCATE ON payment_plan_statuses
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER placements_immutable BEFORE DELETE OR UPDATE ON placements
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER placements_never_truncated BEFORE TRUNCATE ON placements
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER placement_recalls_immutable BEFORE DELETE OR UPDATE ON placement_recalls
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER placement_recalls_never_truncated BEFORE TRUNCATE ON placement_recalls
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_cases_immutable BEFORE DELETE OR UPDATE ON legal_cases
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_cases_never_truncated BEFORE TRUNCATE ON legal_cases
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_updates_immutable BEFORE DELETE OR UPDATE ON legal_case_updates
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER legal_case_updates_never_truncated BEFORE TRUNCATE ON legal_case_updates
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER write_offs_immutable BEFORE DELETE OR UPDATE ON write_offs
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER write_offs_never_truncated BEFORE TRUNCATE ON write_offs
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
