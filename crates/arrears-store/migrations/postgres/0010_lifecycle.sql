-- The facts from the collections lifecycle that the conduct rules need (compliance spec,
-- "Facts from the lifecycle"; docs/store.md): notices sent, the borrower's per-channel
-- preferences (a history: the latest row per borrower and channel holds), debt sales,
-- credit-report disputes and their resolutions, contact persons and their refusals, the
-- versions of the lender's policy, and the rule ids of a contact that a rule forbade but
-- that happened (a violation, reported after the fact). Every new table is append-only.
--
-- Payment plans, placements and legal cases stay in the work tables of 0005; an import may
-- now bring a plan status or a case update without its time, and a case without its court,
-- number or claimed amount (the lifecycle files do not carry them), so those columns become
-- nullable.
--
-- The portal's one-row-per-borrower `contact_preferences` becomes three rows of
-- `preferences` (call, sms, email: opted out = not among the accepted channels, the hours on
-- each), and is dropped.
--
-- Every table a pre-contact check now reads notifies `arrears_facts` (as 0008/0009 do for
-- borrowers, loans and contacts), and a contact also notifies every borrower whose phone or
-- e-mail it went to (their per-number counts changed).

CREATE TABLE notices (
    notice_id   TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    -- NULL: the notice is about every debt of the borrower.
    loan_id     TEXT REFERENCES loans (loan_id),
    kind        TEXT NOT NULL CHECK (kind IN ('validation', 'agency_placement', 'credit_reporting',
                                              'forbearance_offer', 'assignment', 'legal_action')),
    sent_at     TIMESTAMPTZ NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('letter', 'email', 'sms', 'portal')),
    -- Who told the store: 'import', 'api', 'outbox', …
    source      TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notices_by_borrower ON notices (borrower_id);

CREATE TABLE preferences (
    preference_id BIGSERIAL PRIMARY KEY,
    borrower_id   TEXT NOT NULL REFERENCES borrowers (borrower_id),
    channel       TEXT NOT NULL CHECK (channel IN ('call', 'sms', 'email', 'letter', 'push', 'visit')),
    opted_out     BOOLEAN NOT NULL,
    -- Local hours the borrower accepts on the channel, from (inclusive) to (exclusive).
    contact_from  TEXT CHECK (contact_from IS NULL OR (length(contact_from) = 5 AND substr(contact_from, 3, 1) = ':')),
    contact_to    TEXT CHECK (contact_to IS NULL OR (length(contact_to) = 5 AND substr(contact_to, 3, 1) = ':')),
    updated_at    TIMESTAMPTZ NOT NULL,
    source        TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
    recorded_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((contact_from IS NULL) = (contact_to IS NULL))
);
CREATE INDEX preferences_by_borrower ON preferences (borrower_id, channel, updated_at, preference_id);

CREATE TABLE sales (
    sale_id     TEXT PRIMARY KEY,
    loan_id     TEXT NOT NULL REFERENCES loans (loan_id),
    buyer       TEXT NOT NULL CHECK (length(buyer) > 0),
    sold_at     TIMESTAMPTZ NOT NULL,
    -- The price in basis points of the balance sold, when known.
    price_bps   BIGINT CHECK (price_bps BETWEEN 0 AND 10000),
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sales_by_loan ON sales (loan_id);

CREATE TABLE credit_disputes (
    dispute_id  TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    -- NULL: every loan of the borrower.
    loan_id     TEXT REFERENCES loans (loan_id),
    opened_at   TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX credit_disputes_by_borrower ON credit_disputes (borrower_id);

-- A dispute is resolved once: its resolution is a row of its own.
CREATE TABLE credit_dispute_resolutions (
    dispute_id  TEXT PRIMARY KEY REFERENCES credit_disputes (dispute_id),
    resolved_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE contact_persons (
    person_id   TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    name        TEXT,
    phone       TEXT,
    email       TEXT,
    relation    TEXT,
    source      TEXT NOT NULL CHECK (source IN ('designated', 'address_book', 'contract')),
    -- The person had asked not to be contacted again when first recorded.
    refused     BOOLEAN NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX contact_persons_by_borrower ON contact_persons (borrower_id);

-- A person who asks not to be contacted again after being recorded: a row of its own.
CREATE TABLE contact_person_refusals (
    person_id   TEXT PRIMARY KEY REFERENCES contact_persons (person_id),
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The lender's policy, versioned: the version in force on a date is the one with the latest
-- effective_from on or before it (ties: the higher version). The store keeps the text as
-- given; the caller validates it first.
CREATE TABLE policies (
    version        BIGSERIAL PRIMARY KEY,
    effective_from DATE NOT NULL,
    text           TEXT NOT NULL,
    sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
    set_at         TIMESTAMPTZ NOT NULL,
    actor          TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 128)
);
CREATE INDEX policies_by_effective_from ON policies (effective_from, version);

-- A contact a rule forbade (reported after the fact): its rule ids, ';'-separated. NULL is a
-- contact no rule forbade. It counts in every cap like any other contact.
ALTER TABLE contacts ADD COLUMN violation TEXT CHECK (violation IS NULL OR length(violation) > 0);
CREATE INDEX contacts_violations ON contacts (at) WHERE violation IS NOT NULL;
-- Contacts to a number or address, whoever's (CN-FREQ-ATTEMPTS counts per number), and the
-- borrowers who have one (the notifications of a new contact).
CREATE INDEX contacts_by_target ON contacts (target);
CREATE INDEX borrowers_by_phone ON borrowers (phone);
CREATE INDEX borrowers_by_email ON borrowers (email);

-- The portal's preferences, one row per channel of the three it offers, in that order.
INSERT INTO preferences (borrower_id, channel, opted_out, contact_from, contact_to, updated_at, source, recorded_at)
SELECT p.borrower_id, c.channel,
       NOT ((',' || p.channels || ',') LIKE ('%,' || c.channel || ',%')),
       p.hours_from, p.hours_to, p.updated_at, 'portal', p.updated_at
FROM contact_preferences p
CROSS JOIN (VALUES (1, 'call'), (2, 'sms'), (3, 'email')) AS c (n, channel)
ORDER BY p.borrower_id, c.n;
DROP TABLE contact_preferences;

-- Nullable times and case details for imported work rows (see above).
ALTER TABLE payment_plan_statuses ALTER COLUMN at DROP NOT NULL;
ALTER TABLE legal_cases ALTER COLUMN court DROP NOT NULL;
ALTER TABLE legal_cases ALTER COLUMN case_number DROP NOT NULL;
ALTER TABLE legal_cases ALTER COLUMN amount_claimed_minor DROP NOT NULL;
ALTER TABLE legal_case_updates ALTER COLUMN at DROP NOT NULL;

-- Append-only (the function of 0005).
CREATE TRIGGER notices_immutable BEFORE DELETE OR UPDATE ON notices
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER notices_never_truncated BEFORE TRUNCATE ON notices
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER preferences_immutable BEFORE DELETE OR UPDATE ON preferences
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER preferences_never_truncated BEFORE TRUNCATE ON preferences
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER sales_immutable BEFORE DELETE OR UPDATE ON sales
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER sales_never_truncated BEFORE TRUNCATE ON sales
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER credit_disputes_immutable BEFORE DELETE OR UPDATE ON credit_disputes
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER credit_disputes_never_truncated BEFORE TRUNCATE ON credit_disputes
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER credit_dispute_resolutions_immutable BEFORE DELETE OR UPDATE ON credit_dispute_resolutions
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER credit_dispute_resolutions_never_truncated BEFORE TRUNCATE ON credit_dispute_resolutions
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER contact_persons_immutable BEFORE DELETE OR UPDATE ON contact_persons
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER contact_persons_never_truncated BEFORE TRUNCATE ON contact_persons
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER contact_person_refusals_immutable BEFORE DELETE OR UPDATE ON contact_person_refusals
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER contact_person_refusals_never_truncated BEFORE TRUNCATE ON contact_person_refusals
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER policies_immutable BEFORE DELETE OR UPDATE ON policies
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER policies_never_truncated BEFORE TRUNCATE ON policies
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();

-- Facts notifications (once per statement, as 0009), by the way each table reaches its
-- borrower. The append-only tables are never updated, deleted or truncated.

-- Rows with a loan_id: payments (a loan's last payment), installments (its first due date),
-- sales, payment plans, placements, legal cases.
CREATE FUNCTION arrears_facts_loan_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('arrears_facts', d.borrower_id)
            FROM (SELECT DISTINCT l.borrower_id FROM old_rows o JOIN loans l ON l.loan_id = o.loan_id) d;
    ELSE
        PERFORM pg_notify('arrears_facts', d.borrower_id)
            FROM (SELECT DISTINCT l.borrower_id FROM new_rows n JOIN loans l ON l.loan_id = n.loan_id) d;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION arrears_facts_plan_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('arrears_facts', d.borrower_id)
        FROM (SELECT DISTINCT l.borrower_id FROM new_rows n
              JOIN payment_plans p ON p.plan_id = n.plan_id JOIN loans l ON l.loan_id = p.loan_id) d;
    RETURN NULL;
END
$$;

CREATE FUNCTION arrears_facts_placement_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('arrears_facts', d.borrower_id)
        FROM (SELECT DISTINCT l.borrower_id FROM new_rows n
              JOIN placements p ON p.placement_id = n.placement_id JOIN loans l ON l.loan_id = p.loan_id) d;
    RETURN NULL;
END
$$;

CREATE FUNCTION arrears_facts_case_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('arrears_facts', d.borrower_id)
        FROM (SELECT DISTINCT l.borrower_id FROM new_rows n
              JOIN legal_cases c ON c.case_id = n.case_id JOIN loans l ON l.loan_id = c.loan_id) d;
    RETURN NULL;
END
$$;

CREATE FUNCTION arrears_facts_dispute_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('arrears_facts', d.borrower_id)
        FROM (SELECT DISTINCT c.borrower_id FROM new_rows n
              JOIN credit_disputes c ON c.dispute_id = n.dispute_id) d;
    RETURN NULL;
END
$$;

CREATE FUNCTION arrears_facts_person_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('arrears_facts', d.borrower_id)
        FROM (SELECT DISTINCT c.borrower_id FROM new_rows n
              JOIN contact_persons c ON c.person_id = n.person_id) d;
    RETURN NULL;
END
$$;

-- A contact changes its borrower's facts and those of every borrower whose phone or e-mail
-- is its target (exactly, as the file mode matches them).
CREATE FUNCTION arrears_facts_contact_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('arrears_facts', d.borrower_id) FROM (
            SELECT borrower_id FROM old_rows
            UNION SELECT b.borrower_id FROM borrowers b
                WHERE b.phone IN (SELECT target FROM old_rows WHERE target IS NOT NULL)
            UNION SELECT b.borrower_id FROM borrowers b
                WHERE b.email IN (SELECT target FROM old_rows WHERE target IS NOT NULL)
        ) d;
    ELSE
        PERFORM pg_notify('arrears_facts', d.borrower_id) FROM (
            SELECT borrower_id FROM new_rows
            UNION SELECT b.borrower_id FROM borrowers b
                WHERE b.phone IN (SELECT target FROM new_rows WHERE target IS NOT NULL)
            UNION SELECT b.borrower_id FROM borrowers b
                WHERE b.email IN (SELECT target FROM new_rows WHERE target IS NOT NULL)
        ) d;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER contacts_facts_inserted ON contacts;
DROP TRIGGER contacts_facts_deleted ON contacts;
CREATE TRIGGER contacts_facts_inserted AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_contact_rows();
CREATE TRIGGER contacts_facts_deleted AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_contact_rows();

CREATE TRIGGER payments_facts_inserted AFTER INSERT ON payments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_loan_rows();
CREATE TRIGGER payments_facts_deleted AFTER DELETE ON payments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_loan_rows();
CREATE TRIGGER payments_facts_truncate AFTER TRUNCATE ON payments
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_truncated();
CREATE TRIGGER installments_facts_inserted AFTER INSERT ON installments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_loan_rows();
CREATE TRIGGER installments_facts_deleted AFTER DELETE ON installments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_loan_rows();
CREATE TRIGGER installments_facts_truncate AFTER TRUNCATE ON installments
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_truncated();

CREATE TRIGGER notices_facts_inserted AFTER INSERT ON notices
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_inserted();
CREATE TRIGGER preferences_facts_inserted AFTER INSERT ON preferences
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_inserted();
CREATE TRIGGER credit_disputes_facts_inserted AFTER INSERT ON credit_disputes
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_inserted();
CREATE TRIGGER contact_persons_facts_inserted AFTER INSERT ON contact_persons
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_inserted();
CREATE TRIGGER sales_facts_inserted AFTER INSERT ON sales
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_loan_rows();
CREATE TRIGGER payment_plans_facts_inserted AFTER INSERT ON payment_plans
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_loan_rows();
CREATE TRIGGER placements_facts_inserted AFTER INSERT ON placements
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_loan_rows();
CREATE TRIGGER legal_cases_facts_inserted AFTER INSERT ON legal_cases
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_loan_rows();
CREATE TRIGGER payment_plan_installments_facts_inserted AFTER INSERT ON payment_plan_installments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_plan_rows();
CREATE TRIGGER payment_plan_statuses_facts_inserted AFTER INSERT ON payment_plan_statuses
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_plan_rows();
CREATE TRIGGER placement_recalls_facts_inserted AFTER INSERT ON placement_recalls
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_placement_rows();
CREATE TRIGGER legal_case_updates_facts_inserted AFTER INSERT ON legal_case_updates
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_case_rows();
CREATE TRIGGER credit_dispute_resolutions_facts_inserted AFTER INSERT ON credit_dispute_resolutions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_dispute_rows();
CREATE TRIGGER contact_person_refusals_facts_inserted AFTER INSERT ON contact_person_refusals
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_person_rows();
