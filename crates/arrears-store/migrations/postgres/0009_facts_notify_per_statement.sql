-- Inserts and deletes notify once per statement, not once per row (migration 0008 made them
-- row triggers): a statement that records many contacts at once (the event writer's batches)
-- runs one trigger call with one pg_notify per borrower it touched, instead of a PL/pgSQL
-- call per row. What the listeners receive is the same: the borrower ids, after the commit
-- (PostgreSQL folds repeats of one payload within a transaction). Updates keep their row
-- triggers, which notify only when the row really changed.

CREATE FUNCTION arrears_facts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('arrears_facts', d.borrower_id)
        FROM (SELECT DISTINCT borrower_id FROM new_rows) d;
    RETURN NULL;
END
$$;

CREATE FUNCTION arrears_facts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('arrears_facts', d.borrower_id)
        FROM (SELECT DISTINCT borrower_id FROM old_rows) d;
    RETURN NULL;
END
$$;

DROP TRIGGER borrowers_facts_insert_delete ON borrowers;
CREATE TRIGGER borrowers_facts_inserted AFTER INSERT ON borrowers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_inserted();
CREATE TRIGGER borrowers_facts_deleted AFTER DELETE ON borrowers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_deleted();

DROP TRIGGER loans_facts_insert_delete ON loans;
CREATE TRIGGER loans_facts_inserted AFTER INSERT ON loans
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_inserted();
CREATE TRIGGER loans_facts_deleted AFTER DELETE ON loans
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_deleted();

DROP TRIGGER contacts_facts_insert_delete ON contacts;
CREATE TRIGGER contacts_facts_inserted AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_inserted();
CREATE TRIGGER contacts_facts_deleted AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_deleted();
