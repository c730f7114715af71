-- The day's plan, blocked actions by rule: the compliance view's history of blocks. A plan
-- of a business date replaces that date's rows (the latest plan of a date is the one that
-- stands); a blocked action denied by two rules counts under each.
CREATE TABLE plan_blocks (
    as_of       DATE NOT NULL,
    rule_id     TEXT NOT NULL CHECK (length(rule_id) BETWEEN 1 AND 64),
    blocked     BIGINT NOT NULL CHECK (blocked > 0),
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (as_of, rule_id)
);
