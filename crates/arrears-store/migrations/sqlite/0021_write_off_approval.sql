-- Write-off with approval (issue 15 item 3, docs/settlement.md): the plan's write-off
-- proposals, a supervisor's decision on each under their own login (never free text), and
-- write-offs recorded by component (principal, interest, fees, penalty). The amounts of the
-- older free-amount write-offs stay without components (NULL). All append-only.
CREATE TABLE write_off_proposals (
    proposal_id TEXT PRIMARY KEY CHECK (length(proposal_id) BETWEEN 1 AND 128),
    loan_id     TEXT NOT NULL REFERENCES loans (loan_id),
    -- The business date of the plan that proposed it.
    proposed_on TEXT NOT NULL CHECK (length(proposed_on) = 10),
    rule_id     TEXT NOT NULL,
    pack_rule   TEXT,
    stage       TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE INDEX write_off_proposals_by_loan ON write_off_proposals (loan_id, proposed_on);

ALTER TABLE write_offs ADD COLUMN principal_minor INTEGER CHECK (principal_minor >= 0);
ALTER TABLE write_offs ADD COLUMN interest_minor INTEGER CHECK (interest_minor >= 0);
ALTER TABLE write_offs ADD COLUMN fee_minor INTEGER CHECK (fee_minor >= 0);
ALTER TABLE write_offs ADD COLUMN penalty_minor INTEGER CHECK (penalty_minor >= 0);

CREATE TABLE write_off_decisions (
    proposal_id  TEXT PRIMARY KEY REFERENCES write_off_proposals (proposal_id),
    decision     TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    reason       TEXT NOT NULL CHECK (length(trim(reason)) BETWEEN 1 AND 2000),
    -- The staff user who decided, signed in with their own password, and their role then.
    decided_by   TEXT NOT NULL CHECK (length(decided_by) BETWEEN 1 AND 64),
    role         TEXT NOT NULL CHECK (role IN ('supervisor', 'admin')),
    decided_at   TEXT NOT NULL,
    write_off_id TEXT UNIQUE REFERENCES write_offs (write_off_id),
    CHECK ((decision = 'approved') = (write_off_id IS NOT NULL))
) STRICT;

CREATE TRIGGER write_off_proposals_never_deleted BEFORE DELETE ON write_off_proposals
BEGIN
    SELECT RAISE(ABORT, 'write_off_proposals rows are never deleted');
END;
CREATE TRIGGER write_off_proposals_never_updated BEFORE UPDATE ON write_off_proposals
BEGIN
    SELECT RAISE(ABORT, 'write_off_proposals rows are never changed');
END;
CREATE TRIGGER write_off_decisions_never_deleted BEFORE DELETE ON write_off_decisions
BEGIN
    SELECT RAISE(ABORT, 'write_off_decisions rows are never deleted');
END;
CREATE TRIGGER write_off_decisions_never_updated BEFORE UPDATE ON write_off_decisions
BEGIN
    SELECT RAISE(ABORT, 'write_off_decisions rows are never changed');
END;
