-- Collection agencies (issue 14 items 1 and 2, docs/agency.md): an agency is a party with an
-- id, a name, the jurisdictions it may work (space-separated codes; the lender's policy holds
-- the approved-agency list), a commission rate in basis points and a placement term in days.
-- API tokens and users may be bound to one agency (`agency_id`): such a credential sees and
-- works only the loans with a live placement with that agency. The agency's reported activity
-- (contacts, promises, payments collected) is kept as it was reported, by its id, and the
-- placement, recall and remittance files written are listed. Every table is append-only.
CREATE TABLE agencies (
    agency_id      TEXT PRIMARY KEY CHECK (length(agency_id) BETWEEN 1 AND 64),
    name           TEXT NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 200),
    jurisdictions  TEXT NOT NULL CHECK (length(jurisdictions) BETWEEN 2 AND 1000),
    commission_bps BIGINT NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    term_days      BIGINT NOT NULL CHECK (term_days BETWEEN 1 AND 3650),
    created_by     TEXT NOT NULL CHECK (length(created_by) BETWEEN 1 AND 128),
    created_at     TIMESTAMPTZ NOT NULL
);

ALTER TABLE api_tokens ADD COLUMN agency_id TEXT REFERENCES agencies (agency_id);
ALTER TABLE users ADD COLUMN agency_id TEXT REFERENCES agencies (agency_id);

CREATE TABLE agency_activity (
    activity_id  TEXT PRIMARY KEY CHECK (length(activity_id) BETWEEN 1 AND 128),
    agency_id    TEXT NOT NULL REFERENCES agencies (agency_id),
    loan_id      TEXT NOT NULL REFERENCES loans (loan_id),
    kind         TEXT NOT NULL CHECK (kind IN ('contact', 'promise', 'payment')),
    at           TIMESTAMPTZ NOT NULL,
    amount_minor BIGINT CHECK (amount_minor IS NULL OR amount_minor > 0),
    -- The canonical row as reported, to tell a replay (same) from a conflict (other).
    body_sha256  TEXT NOT NULL CHECK (length(body_sha256) = 64),
    -- `api` or `file:NAME:LINE`.
    source       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX agency_activity_by_agency ON agency_activity (agency_id, at);

CREATE TABLE agency_files (
    file_id     BIGSERIAL PRIMARY KEY,
    agency_id   TEXT NOT NULL REFERENCES agencies (agency_id),
    kind        TEXT NOT NULL CHECK (kind IN ('placement', 'recall', 'remittance')),
    period_from DATE NOT NULL,
    period_to   DATE NOT NULL,
    loans       BIGINT NOT NULL CHECK (loans >= 0),
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    written_at  TIMESTAMPTZ NOT NULL
);

CREATE TRIGGER agencies_immutable BEFORE DELETE OR UPDATE ON agencies
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER agencies_never_truncated BEFORE TRUNCATE ON agencies
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER agency_activity_immutable BEFORE DELETE OR UPDATE ON agency_activity
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER agency_activity_never_truncated BEFORE TRUNCATE ON agency_activity
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER agency_files_immutable BEFORE DELETE OR UPDATE ON agency_files
    FOR EACH ROW EXECUTE FUNCTION work_rows_immutable();
CREATE TRIGGER agency_files_never_truncated BEFORE TRUNCATE ON agency_files
    FOR EACH STATEMENT EXECUTE FUNCTION work_rows_immutable();
