-- Token scopes (issue 16, least privilege): what each API token may do. `scopes` holds the
-- scope names the token was issued with, sorted and separated by one space (`contacts`,
-- `events`, `work`, `read`, `admin`); a token without any scope may call no route.
-- `scopes_granted_by` says who chose them: `cli` for `arrears tokens create --scope …`.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT ''
    CHECK (length(scopes) <= 200);
ALTER TABLE api_tokens ADD COLUMN scopes_granted_by TEXT NOT NULL DEFAULT 'cli'
    CHECK (length(scopes_granted_by) BETWEEN 1 AND 200);

-- Tokens issued before scopes existed could call every /v1 route. They keep exactly that
-- (contacts, events, read, work; not `admin`, which guards routes that did not exist then),
-- and the row says so, so an auditor sees which grants no person chose. Revoke and issue
-- them again with the scopes they need.
UPDATE api_tokens
   SET scopes = 'contacts events read work',
       scopes_granted_by = 'migration 0013: every scope a token had before scopes existed'
 WHERE revoked_at IS NULL;
