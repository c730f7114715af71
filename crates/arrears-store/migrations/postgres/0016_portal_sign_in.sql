-- The borrower's own way into the portal: a six-digit code asked for at /portal with the
-- borrower's phone or e-mail and sent through the outbox to that target on record. Only the
-- code's SHA-256 (with the borrower id and the row's salt) is kept; a code lives ten minutes,
-- allows five tries and is used once. `outbox_id` is the message that carried it.
CREATE TABLE portal_sign_in_codes (
    sign_in_id  BIGSERIAL PRIMARY KEY,
    borrower_id TEXT NOT NULL REFERENCES borrowers (borrower_id),
    channel     TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    salt        TEXT NOT NULL CHECK (length(salt) = 64),
    code_sha256 TEXT NOT NULL CHECK (length(code_sha256) = 64),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    used_at     TIMESTAMPTZ,
    outbox_id   BIGINT
);
CREATE INDEX portal_sign_in_codes_by_borrower ON portal_sign_in_codes (borrower_id, created_at);
