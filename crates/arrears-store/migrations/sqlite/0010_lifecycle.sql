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
-- nullable (SQLite cannot drop a NOT NULL: the three tables are rebuilt, rows and ids kept).
--
-- The portal's one-row-per-borrower `contact_preferences` becomes three rows of
-- `preferences` (call, sms, email: opted out = not among the accepted channels, the hours on
-- each), and is dropped.
--
-- Instants are TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC, fixed width), dates 'YYYY-MM-DD',
-- local times 'HH:MM'. `recorded_at` is the database's clock when the row was written.

CREATE TABLE notices (
    notice_id   TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    -- NULL: the notice is about every debt of the borrower.
    loan_id     TEXT REFERENCES loans (loan_id),
    kind        TEXT NOT NULL CHECK (kind IN ('validation', 'agency_placement', 'credit_reporting',
                                              'forbearance_offer', 'assignment', 'legal_action')),
    sent_at     TEXT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('letter', 'email', 'sms', 'portal')),
    -- Who told the store: 'import', 'api', 'outbox', …
    source      TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX notices_by_borrower ON notices (borrower_id);

CREATE TABLE preferences (
    preference_id INTEGER PRIMARY KEY AUTOINCREMENT,
    borrower_id   TEXT NOT NULL REFERENCES borrowers (borrower_id),
    channel       TEXT NOT NULL CHECK (channel IN ('call', 'sms', 'email', 'letter', 'push', 'visit')),
    opted_out     INTEGER NOT NULL CHECK (opted_out IN (0, 1)),
    -- Local hours the borrower accepts on the channel, from (inclusive) to (exclusive).
    contact_from  TEXT CHECK (contact_from IS NULL OR (length(contact_from) = 5 AND substr(contact_from, 3, 1) = ':')),
    contact_to    TEXT CHECK (contact_to IS NULL OR (length(contact_to) = 5 AND substr(contact_to, 3, 1) = ':')),
    updated_at    TEXT NOT NULL,
    source        TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
    recorded_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CHECK ((contact_from IS NULL) = (contact_to IS NULL))
) STRICT;
CREATE INDEX preferences_by_borrower ON preferences (borrower_id, channel, updated_at, preference_id);

CREATE TABLE sales (
    sale_id     TEXT PRIMARY KEY,
    loan_id     TEXT NOT NULL REFERENCES loans (loan_id),
    buyer       TEXT NOT NULL CHECK (length(buyer) > 0),
    sold_at     TEXT NOT NULL,
    -- The price in basis points of the balance sold, when known.
    price_bps   INTEGER CHECK (price_bps BETWEEN 0 AND 10000),
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX sales_by_loan ON sales (loan_id);

CREATE TABLE credit_disputes (
    dispute_id  TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    -- NULL: every loan of the borrower.
    loan_id     TEXT REFERENCES loans (loan_id),
    opened_at   TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX credit_disputes_by_borrower ON credit_disputes (borrower_id);

-- A dispute is resolved once: its resolution is a row of its own.
CREATE TABLE credit_dispute_resolutions (
    dispute_id  TEXT PRIMARY KEY REFERENCES credit_disputes (dispute_id),
    resolved_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;

CREATE TABLE contact_persons (
    person_id   TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    name        TEXT,
    phone       TEXT,
    email       TEXT,
    relation    TEXT,
    source      TEXT NOT NULL CHECK (source IN ('designated', 'address_book', 'contract')),
    -- The person had asked not to be contacted again when first recorded.
    refused     INTEGER NOT NULL CHECK (refused IN (0, 1)),
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX contact_persons_by_borrower ON contact_persons (borrower_id);

-- A person who asks not to be contacted again after being recorded: a row of its own.
CREATE TABLE contact_person_refusals (
    person_id   TEXT PRIMARY KEY REFERENCES contact_persons (person_id),
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;

-- The lender's policy, versioned: the version in force on a date is the one with the latest
-- effective_from on or before it (ties: the higher version). The store keeps the text as
-- given; the caller validates it first.
CREATE TABLE policies (
    version        INTEGER PRIMARY KEY AUTOINCREMENT,
    effective_from TEXT NOT NULL,
    text           TEXT NOT NULL,
    sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
    set_at         TEXT NOT NULL,
    actor          TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 128)
) STRICT;
CREATE INDEX policies_by_effective_from ON policies (effective_from, version);

-- A contact a rule forbade (reported after the fact): its rule ids, ';'-separated. NULL is a
-- contact no rule forbade. It counts in every cap like any other contact.
ALTER TABLE contacts ADD COLUMN violation TEXT CHECK (violation IS NULL OR length(violation) > 0);
CREATE INDEX contacts_violations ON contacts (at) WHERE violation IS NOT NULL;
-- Contacts to a number or address, whoever's (CN-FREQ-ATTEMPTS counts per number).
CREATE INDEX contacts_by_target ON contacts (target);

-- The portal's preferences, one row per channel of the three it offers, in that order.
INSERT INTO preferences (borrower_id, channel, opted_out, contact_from, contact_to, updated_at, source, recorded_at)
SELECT p.borrower_id, c.channel,
       CASE WHEN (',' || p.channels || ',') LIKE ('%,' || c.channel || ',%') THEN 0 ELSE 1 END,
       p.hours_from, p.hours_to, p.updated_at, 'portal', p.updated_at
FROM contact_preferences p
CROSS JOIN (SELECT 1 AS n, 'call' AS channel UNION ALL SELECT 2, 'sms' UNION ALL SELECT 3, 'email') c
ORDER BY p.borrower_id, c.n;
DROP TABLE contact_preferences;

-- Nullable times and case details for imported work rows (see above): rebuild, keeping ids.
ALTER TABLE payment_plan_statuses RENAME TO payment_plan_statuses_0009;
CREATE TABLE payment_plan_statuses (
    change_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id     TEXT NOT NULL REFERENCES payment_plans (plan_id),
    status      TEXT NOT NULL
                CHECK (status IN ('proposed', 'active', 'completed', 'broken', 'cancelled')),
    -- NULL: not known (imported from a file that gives only the status).
    at          TEXT,
    reason      TEXT,
    actor       TEXT NOT NULL,
    UNIQUE (plan_id, status)
) STRICT;
INSERT INTO payment_plan_statuses (change_id, plan_id, status, at, reason, actor)
    SELECT change_id, plan_id, status, at, reason, actor FROM payment_plan_statuses_0009;
DROP TABLE payment_plan_statuses_0009;

ALTER TABLE legal_case_updates RENAME TO legal_case_updates_0009;
ALTER TABLE legal_cases RENAME TO legal_cases_0009;
CREATE TABLE legal_cases (
    case_id              TEXT PRIMARY KEY,
    loan_id              TEXT NOT NULL REFERENCES loans (loan_id),
    -- NULL (these three): not known (imported).
    court                TEXT,
    case_number          TEXT,
    amount_claimed_minor INTEGER CHECK (amount_claimed_minor > 0),
    actor                TEXT NOT NULL,
    recorded_at          TEXT NOT NULL
) STRICT;
INSERT INTO legal_cases (case_id, loan_id, court, case_number, amount_claimed_minor, actor, recorded_at)
    SELECT case_id, loan_id, court, case_number, amount_claimed_minor, actor, recorded_at
    FROM legal_cases_0009;
CREATE TABLE legal_case_updates (
    update_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id              TEXT NOT NULL REFERENCES legal_cases (case_id),
    status               TEXT NOT NULL CHECK (status IN ('filed', 'judgment', 'enforcement', 'closed')),
    -- NULL: not known (imported without its date).
    at                   TEXT,
    amount_awarded_minor INTEGER CHECK (amount_awarded_minor >= 0),
    note                 TEXT,
    actor                TEXT NOT NULL,
    UNIQUE (case_id, status)
) STRICT;
INSERT INTO legal_case_updates (update_id, case_id, status, at, amount_awarded_minor, note, actor)
    SELECT update_id, case_id, status, at, amount_awarded_minor, note, actor FROM legal_case_updates_0009;
DROP TABLE legal_case_updates_0009;
DROP TABLE legal_cases_0009;
CREATE INDEX legal_cases_by_loan ON legal_cases (loan_id);

-- Append-only, as every table of 0005 (the rebuilt ones again) and of this migration.
CREATE TRIGGER payment_plan_statuses_never_deleted BEFORE DELETE ON payment_plan_statuses
BEGIN
    SELECT RAISE(ABORT, 'payment_plan_statuses rows are never deleted');
END;
CREATE TRIGGER payment_plan_statuses_never_updated BEFORE UPDATE ON payment_plan_statuses
BEGIN
    SELECT RAISE(ABORT, 'payment_plan_statuses rows are never changed');
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
CREATE TRIGGER notices_never_deleted BEFORE DELETE ON notices
BEGIN
    SELECT RAISE(ABORT, 'notices rows are never deleted');
END;
CREATE TRIGGER notices_never_updated BEFORE UPDATE ON notices
BEGIN
    SELECT RAISE(ABORT, 'notices rows are never changed');
END;
CREATE TRIGGER preferences_never_deleted BEFORE DELETE ON preferences
BEGIN
    SELECT RAISE(ABORT, 'preferences rows are never deleted');
END;
CREATE TRIGGER preferences_never_updated BEFORE UPDATE ON preferences
BEGIN
    SELECT RAISE(ABORT, 'preferences rows are never changed');
END;
CREATE TRIGGER sales_never_deleted BEFORE DELETE ON sales
BEGIN
    SELECT RAISE(ABORT, 'sales rows are never deleted');
END;
CREATE TRIGGER sales_never_updated BEFORE UPDATE ON sales
BEGIN
    SELECT RAISE(ABORT, 'sales rows are never changed');
END;
CREATE TRIGGER credit_disputes_never_deleted BEFORE DELETE ON credit_disputes
BEGIN
    SELECT RAISE(ABORT, 'credit_disputes rows are never deleted');
END;
CREATE TRIGGER credit_disputes_never_updated BEFORE UPDATE ON credit_disputes
BEGIN
    SELECT RAISE(ABORT, 'credit_disputes rows are never changed');
END;
CREATE TRIGGER credit_dispute_resolutions_never_deleted BEFORE DELETE ON credit_dispute_resolutions
BEGIN
    SELECT RAISE(ABORT, 'credit_dispute_resolutions rows are never deleted');
END;
CREATE TRIGGER credit_dispute_resolutions_never_updated BEFORE UPDATE ON credit_dispute_resolutions
BEGIN
    SELECT RAISE(ABORT, 'credit_dispute_resolutions rows are never changed');
END;
CREATE TRIGGER contact_persons_never_deleted BEFORE DELETE ON contact_persons
BEGIN
    SELECT RAISE(ABORT, 'contact_persons rows are never deleted');
END;
CREATE TRIGGER contact_persons_never_updated BEFORE UPDATE ON contact_persons
BEGIN
    SELECT RAISE(ABORT, 'contact_persons rows are never changed');
END;
CREATE TRIGGER contact_person_refusals_never_deleted BEFORE DELETE ON contact_person_refusals
BEGIN
    SELECT RAISE(ABORT, 'contact_person_refusals rows are never deleted');
END;
CREATE TRIGGER contact_person_refusals_never_updated BEFORE UPDATE ON contact_person_refusals
BEGIN
    SELECT RAISE(ABORT, 'contact_person_refusals rows are never changed');
END;
CREATE TRIGGER policies_never_deleted BEFORE DELETE ON policies
BEGIN
    SELECT RAISE(ABORT, 'policies rows are never deleted');
END;
CREATE TRIGGER policies_never_updated BEFORE UPDATE ON policies
BEGIN
    SELECT RAISE(ABORT, 'policies rows are never changed');
END;
