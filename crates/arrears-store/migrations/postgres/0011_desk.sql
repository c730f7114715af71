-- The agent's desk and times for people (issue 19, items 1 and 2): a staff user's own time
-- zone (the pages show times in it; NULL: the lender's business zone), the notes an agent
-- writes on a call (kept beside the contact, never changed), the agent's answer to a
-- borrower's payment plan proposal (accepted with the plan it made, countered with another
-- schedule, or declined with a reason), and promises cancelled with a reason (a cancelled
-- promise is neither kept nor broken: the daily run, the planner, the pages and the
-- dashboard leave it out).

ALTER TABLE users ADD COLUMN time_zone TEXT
    CHECK (time_zone IS NULL OR length(time_zone) BETWEEN 1 AND 64);

CREATE TABLE contact_notes (
    contact_id TEXT PRIMARY KEY REFERENCES contacts (contact_id),
    body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    written_by TEXT NOT NULL CHECK (length(written_by) BETWEEN 1 AND 80),
    at         TIMESTAMPTZ NOT NULL
);

CREATE TRIGGER contact_notes_immutable BEFORE DELETE OR UPDATE ON contact_notes
    FOR EACH ROW EXECUTE FUNCTION service_rows_immutable();
CREATE TRIGGER contact_notes_never_truncated BEFORE TRUNCATE ON contact_notes
    FOR EACH STATEMENT EXECUTE FUNCTION service_rows_immutable();

-- A proposal is answered once: open, then accepted, countered or declined.
ALTER TABLE plan_proposals ADD COLUMN status TEXT NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'accepted', 'countered', 'declined'));
ALTER TABLE plan_proposals ADD COLUMN answered_at TIMESTAMPTZ;
ALTER TABLE plan_proposals ADD COLUMN answered_by TEXT;
-- The reason of a decline, or the agent's words with a counter-offer.
ALTER TABLE plan_proposals ADD COLUMN answer_text TEXT
    CHECK (answer_text IS NULL OR length(answer_text) <= 1000);
-- The payment plan an accepted proposal became.
ALTER TABLE plan_proposals ADD COLUMN plan_id TEXT;
-- A counter-offer: count payments of an amount from a first date, a month, two weeks or a
-- week apart.
ALTER TABLE plan_proposals ADD COLUMN counter_installments INTEGER
    CHECK (counter_installments IS NULL OR counter_installments BETWEEN 1 AND 60);
ALTER TABLE plan_proposals ADD COLUMN counter_amount_minor BIGINT
    CHECK (counter_amount_minor IS NULL OR counter_amount_minor > 0);
ALTER TABLE plan_proposals ADD COLUMN counter_first_due DATE;
ALTER TABLE plan_proposals ADD COLUMN counter_every TEXT
    CHECK (counter_every IS NULL OR counter_every IN ('month', 'two_weeks', 'week'));

CREATE TABLE promise_cancellations (
    promise_id   TEXT PRIMARY KEY REFERENCES promises (promise_id),
    cancelled_at TIMESTAMPTZ NOT NULL,
    cancelled_by TEXT NOT NULL CHECK (length(cancelled_by) BETWEEN 1 AND 80),
    reason       TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000)
);

CREATE TRIGGER promise_cancellations_immutable BEFORE DELETE OR UPDATE ON promise_cancellations
    FOR EACH ROW EXECUTE FUNCTION service_rows_immutable();
CREATE TRIGGER promise_cancellations_never_truncated BEFORE TRUNCATE ON promise_cancellations
    FOR EACH STATEMENT EXECUTE FUNCTION service_rows_immutable();
