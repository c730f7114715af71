-- The PostgreSQL migration of this number makes the facts notifications of inserts and
-- deletes statement triggers. SQLite has no notifications; this migration keeps the two
-- schemas' versions equal.
SELECT 1;
