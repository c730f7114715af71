-- Change notifications for caches of borrowers' facts (`arrears serve`): every change to a
-- row a compliance check reads sends NOTIFY arrears_facts with the borrower's id when its
-- transaction commits (PostgreSQL folds repeats of one payload within a transaction into
-- one); a TRUNCATE sends '*' (anything may have changed). An UPDATE that changes nothing
-- (the borrower lock `SET name = name`) sends nothing.

CREATE FUNCTION arrears_facts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('arrears_facts', OLD.borrower_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('arrears_facts', NEW.borrower_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION arrears_facts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('arrears_facts', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER borrowers_facts_insert_delete AFTER INSERT OR DELETE ON borrowers
    FOR EACH ROW EXECUTE FUNCTION arrears_facts_changed();
CREATE TRIGGER borrowers_facts_update AFTER UPDATE ON borrowers
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION arrears_facts_changed();
CREATE TRIGGER borrowers_facts_truncate AFTER TRUNCATE ON borrowers
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_truncated();

CREATE TRIGGER loans_facts_insert_delete AFTER INSERT OR DELETE ON loans
    FOR EACH ROW EXECUTE FUNCTION arrears_facts_changed();
CREATE TRIGGER loans_facts_update AFTER UPDATE ON loans
    FOR EACH ROW WHEN (OLD.borrower_id IS DISTINCT FROM NEW.borrower_id
                       OR OLD.loan_id IS DISTINCT FROM NEW.loan_id)
    EXECUTE FUNCTION arrears_facts_changed();
CREATE TRIGGER loans_facts_truncate AFTER TRUNCATE ON loans
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_truncated();

CREATE TRIGGER contacts_facts_insert_delete AFTER INSERT OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION arrears_facts_changed();
CREATE TRIGGER contacts_facts_update AFTER UPDATE ON contacts
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION arrears_facts_changed();
CREATE TRIGGER contacts_facts_truncate AFTER TRUNCATE ON contacts
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_truncated();

CREATE TRIGGER contact_preferences_facts AFTER INSERT OR UPDATE OR DELETE ON contact_preferences
    FOR EACH ROW EXECUTE FUNCTION arrears_facts_changed();
CREATE TRIGGER contact_preferences_facts_truncate AFTER TRUNCATE ON contact_preferences
    FOR EACH STATEMENT EXECUTE FUNCTION arrears_facts_truncated();
