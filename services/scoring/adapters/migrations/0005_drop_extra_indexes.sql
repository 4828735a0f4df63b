-- A rebuild's `LIKE … INCLUDING ALL` copies indexes under generated names, so the drops of 0003
-- and 0004 may have missed them: the hot tables keep only their primary keys.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT i.indexrelid::regclass AS idx FROM pg_index i
             WHERE i.indrelid IN ('attendance'::regclass, 'attendee_days'::regclass) AND NOT i.indisprimary
    LOOP
        EXECUTE 'DROP INDEX ' || r.idx;
    END LOOP;
END $$;
