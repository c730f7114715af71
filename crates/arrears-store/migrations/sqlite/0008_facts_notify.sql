-- The PostgreSQL migration of this number adds change notifications for caches of
-- borrowers' facts. SQLite has no notifications and the server keeps no such cache over it
-- (an embedded store has one writer); this migration keeps the two schemas' versions equal.
SELECT 1;
