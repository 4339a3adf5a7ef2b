-- A change feed shared by operator replicas (issue 8, several operators).
-- Long polls (nodes' desired state, edges' route table) carry a version;
-- it used to be a counter in each operator process, so that behind one
-- address a poll answered by another replica saw a foreign version and
-- returned at once, over and over. The version now lives here, one row,
-- and every replica reads the same number.
--
-- The version must grow in commit order: a poll that saw version V must
-- be woken by every commit that is not in its answer. A sequence taken in
-- a row trigger does not do that (a transaction that took 10 may commit
-- after one that took 11). So the row is bumped by a deferred constraint
-- trigger, at commit: its row lock orders the bumps like the commits, is
-- held only for the commit itself, and is taken after every other lock of
-- the transaction, so that it cannot deadlock with row locks.
--
-- The existing notify triggers (with their WHEN conditions) keep deciding
-- what counts as a change: notify_change() now only marks the transaction,
-- and the deferred *_version triggers bump once per marked transaction and
-- NOTIFY zeitwork_changes with the new version as payload. A table whose
-- notify trigger has no <table>_version trigger beside it is bumped at once
-- instead: still correct, but the row lock is then held until commit, and
-- may deadlock with row locks; give every table that calls notify_change()
-- its <table>_version trigger.
CREATE TABLE change_feed (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
-- Clients start polling with after=0, so versions start at 1.
INSERT INTO change_feed (version) VALUES (1);

CREATE FUNCTION change_feed_bump() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    PERFORM set_config('zeitwork.change', 'bumped', true);
    UPDATE change_feed SET version = version + 1 RETURNING version INTO v;
    PERFORM pg_notify('zeitwork_changes', v::text);
END;
$$;

-- Marks the transaction for its table's <table>_version trigger, or bumps
-- at once on a table without one.
CREATE OR REPLACE FUNCTION notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    state text := current_setting('zeitwork.change', true);
BEGIN
    IF state IN ('pending', 'bumped') THEN
        RETURN NULL; -- bumped at commit, or bumped already under the row's lock
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = TG_RELID AND tgname = TG_TABLE_NAME || '_version') THEN
        PERFORM set_config('zeitwork.change', 'pending', true);
    ELSE
        PERFORM change_feed_bump();
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION change_feed_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('zeitwork.change', true) IS NOT DISTINCT FROM 'pending' THEN
        PERFORM change_feed_bump();
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER deployments_version AFTER INSERT OR UPDATE OR DELETE ON deployments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
CREATE CONSTRAINT TRIGGER instances_version AFTER INSERT OR UPDATE OR DELETE ON instances
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
CREATE CONSTRAINT TRIGGER projects_version AFTER INSERT OR UPDATE OR DELETE ON projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
CREATE CONSTRAINT TRIGGER env_vars_version AFTER INSERT OR UPDATE OR DELETE ON env_vars
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
CREATE CONSTRAINT TRIGGER nodes_version AFTER INSERT OR UPDATE OR DELETE ON nodes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
CREATE CONSTRAINT TRIGGER builds_version AFTER INSERT OR UPDATE OR DELETE ON builds
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
CREATE CONSTRAINT TRIGGER domains_version AFTER INSERT OR UPDATE OR DELETE ON domains
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
CREATE CONSTRAINT TRIGGER memberships_version AFTER INSERT OR UPDATE OR DELETE ON memberships
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
CREATE CONSTRAINT TRIGGER api_tokens_version AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();

-- A build's push token (the credential its builder pushes with) is kept as
-- a hash, so that whichever replica the push reaches accepts it; cleared
-- when the builder returns.
ALTER TABLE builds ADD COLUMN push_token_hash bytea;
CREATE UNIQUE INDEX builds_push_token_idx ON builds (push_token_hash) WHERE push_token_hash IS NOT NULL;
