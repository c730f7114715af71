-- What a borrower asked for on the portal: the channels and local hours they agree to be
-- contacted on (one row per borrower, replaced on every change), and payment plans they
-- proposed (kept as proposals for an agent to look at; real payment plans are elsewhere).

CREATE TABLE contact_preferences (
    borrower_id TEXT PRIMARY KEY REFERENCES borrowers (borrower_id),
    -- The channels the borrower accepts, comma separated, from call, sms, email.
    channels    TEXT NOT NULL,
    -- Agreed local hours 'HH:MM' (both or neither), in the borrower's zone.
    hours_from  TEXT CHECK (hours_from IS NULL OR length(hours_from) = 5),
    hours_to    TEXT CHECK (hours_to IS NULL OR length(hours_to) = 5),
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK ((hours_from IS NULL) = (hours_to IS NULL))
);

CREATE TABLE plan_proposals (
    proposal_id  BIGSERIAL PRIMARY KEY,
    borrower_id  TEXT NOT NULL REFERENCES borrowers (borrower_id),
    loan_id      TEXT NOT NULL REFERENCES loans (loan_id),
    installments INTEGER NOT NULL CHECK (installments BETWEEN 1 AND 60),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    first_due    DATE NOT NULL,
    note         TEXT NOT NULL CHECK (length(note) <= 1000),
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX plan_proposals_by_loan ON plan_proposals (loan_id, proposal_id);
