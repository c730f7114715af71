-- The service (`arrears serve`): API tokens and users, the events ingested through the API
-- (idempotent by event id), the borrower state changes those events made, and the log of
-- every read of a borrower's data. Events, state changes and the access log are never
-- changed or deleted.

-- Only a SHA-256 of a token is stored: a token is 256 random bits, so a fast hash is enough.
CREATE TABLE api_tokens (
    token_id     BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
-- One live token per name (revoke, then create, to rotate).
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE users (
    user_id       BIGSERIAL PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    role          TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'compliance', 'admin')),
    password_hash TEXT NOT NULL, -- argon2id, PHC string
    created_at    TIMESTAMPTZ NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE ingested_events (
    event_id    TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    body_sha256 TEXT NOT NULL CHECK (length(body_sha256) = 64),
    body        TEXT NOT NULL, -- the event as received (canonical JSON)
    received_at TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL  -- the token's name
);

CREATE TABLE borrower_state_changes (
    change_id    BIGSERIAL PRIMARY KEY,
    borrower_id  TEXT NOT NULL REFERENCES borrowers (borrower_id),
    flag         TEXT NOT NULL
                 CHECK (flag IN ('dispute_open', 'cease_contact', 'hardship', 'deceased', 'bankrupt')),
    value        BOOLEAN NOT NULL,
    effective_at TIMESTAMPTZ NOT NULL,
    event_id     TEXT NOT NULL REFERENCES ingested_events (event_id),
    recorded_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX borrower_state_changes_by_borrower ON borrower_state_changes (borrower_id, change_id);

CREATE TABLE access_log (
    access_id   BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    borrower_id TEXT,
    loan_id     TEXT
);
CREATE INDEX access_log_by_borrower ON access_log (borrower_id, access_id);

CREATE FUNCTION service_rows_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted or changed', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER ingested_events_immutable BEFORE DELETE OR UPDATE ON ingested_events
    FOR EACH ROW EXECUTE FUNCTION service_rows_immutable();
CREATE TRIGGER ingested_events_never_truncated BEFORE TRUNCATE ON ingested_events
    FOR EACH STATEMENT EXECUTE FUNCTION service_rows_immutable();
CREATE TRIGGER borrower_state_changes_immutable BEFORE DELETE OR UPDATE ON borrower_state_changes
    FOR EACH ROW EXECUTE FUNCTION service_rows_immutable();
CREATE TRIGGER borrower_state_changes_never_truncated BEFORE TRUNCATE ON borrower_state_changes
    FOR EACH STATEMENT EXECUTE FUNCTION service_rows_immutable();
CREATE TRIGGER access_log_immutable BEFORE DELETE OR UPDATE ON access_log
    FOR EACH ROW EXECUTE FUNCTION service_rows_immutable();
CREATE TRIGGER access_log_never_truncated BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION service_rows_immutable();
