-- Write-off with approval (issue 15 item 3, docs/settlement.md): the plan's write-off
-- proposals, a supervisor's decision on each under their own login (never free text), and
-- write-offs recorded by component (principal, interest, fees, penalty). The amounts of the
-- older free-amount write-offs stay without components (NULL). All append-only.
CREATE TABLE write_off_proposals (
    proposal_id TEXT PRIMARY KEY CHECK (length(proposal_id) BETWEEN 1 AND 128),
    loan_id     TEXT NOT NULL REFERENCES loans (loan_id),
    -- The business date of the plan that proposed it.
    proposed_on DATE NOT NULL,
    rule_id     TEXT NOT NULL,
    pack_rule   TEXT,
    stage       TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX write_off_proposals_by_loan ON write_off_proposals (loan_id, proposed_on);

ALTER TABLE write_offs ADD COLUMN principal_minor BIGINT CHECK (principal_minor >= 0);
ALTER TABLE write_offs ADD COLUMN interest_minor BIGINT CHECK (interest_minor >= 0);
ALTER TABLE write_offs ADD COLUMN fee_minor BIGINT CHECK (fee_minor >= 0);
ALTER TABLE write_offs ADD COLUMN penalty_minor BIGINT CHECK (penalty_minor >= 0);

CREATE TABLE write_off_decisions (
    proposal_id  TEXT PRIMARY KEY REFERENCES write_off_proposals (proposal_id),
    decision     TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    reason       TEXT NOT NULL CHECK (length(trim(reason)) BETWEEN 1 AND 2000),
    -- The staff user who decided, signed in with their own password, and their role then.
    decided_by   TEXT NOT NULL CHECK (length(decided_by) BETWEEN 1 AND 64),
    role         TEXT NOT NULL CHECK (role IN ('supervisor', 'admin')),
    decided_at   TIMESTAMPTZ NOT NULL,
    write_off_id TEXT UNIQUE REFERENCES write_offs (write_off_id),
    CHECK ((decision = 'approved') = (write_off_id IS NOT NULL))
);

CREATE TRIGGER write_off_proposals_immutable BEFORE DELETE OR UPDATE ON write_off_proposals
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER write_off_proposals_never_truncated BEFORE TRUNCATE ON write_off_proposals
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER write_off_decisions_immutable BEFORE DELETE OR UPDATE ON write_off_decisions
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER write_off_decisions_never_truncated BEFORE TRUNCATE ON write_off_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
