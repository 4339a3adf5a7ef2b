-- The dashboard's change stream (issue 10, GET /v1/stream): what changed,
-- for whom. The change feed (0023) tells replicas *that* something
-- changed; this table tells a signed-in organisation *what*, so that its
-- pages fetch again just what they show. Rows are written by triggers,
-- so every writer (any replica, any code path) is covered, and are kept
-- for an hour (the stream reads only new ones).
--
-- Readers must not miss a row whose transaction commits after a later
-- id's: they read by transaction id. A reader takes the oldest running
-- transaction (pg_snapshot_xmin) first, then reads rows of transactions
-- from its previous xmin on, skipping ids it sent: every transaction
-- below the new xmin had ended before the read, so its rows were seen.
CREATE TABLE changes (
    id              bigserial PRIMARY KEY,
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- For whom: an organisation's members, one user (their tokens), or,
    -- with neither, the installation's administrators (nodes).
    organisation_id uuid,
    user_id         uuid,
    project_id      uuid,
    project         text NOT NULL DEFAULT '',
    kind            text NOT NULL,
    object          text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX changes_xid_idx ON changes (xid);
CREATE INDEX changes_at_idx ON changes (at);

CREATE FUNCTION record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r     jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    kind  text;
    obj   text;
    org   uuid;
    usr   uuid;
    proj  uuid;
    pname text := '';
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'projects' THEN
        kind := 'project'; proj := (r->>'id')::uuid; org := (r->>'organisation_id')::uuid;
        pname := r->>'name'; obj := pname;
    WHEN 'deployments' THEN
        kind := 'deployment'; proj := (r->>'project_id')::uuid; obj := r->>'slug';
    WHEN 'events' THEN
        -- A new entry of a deployment's timeline.
        kind := 'deployment'; proj := (r->>'project_id')::uuid;
        SELECT slug INTO obj FROM deployments WHERE id = (r->>'deployment_id')::uuid;
    WHEN 'instances' THEN
        kind := 'instance'; obj := r->>'id';
        SELECT project_id INTO proj FROM deployments WHERE id = (r->>'deployment_id')::uuid;
    WHEN 'builds' THEN
        kind := 'build'; proj := (r->>'project_id')::uuid; obj := r->>'id';
    WHEN 'domains' THEN
        kind := 'domain'; proj := (r->>'project_id')::uuid; obj := r->>'name';
    WHEN 'env_vars' THEN
        kind := 'env'; proj := (r->>'project_id')::uuid; obj := r->>'name';
    WHEN 'memberships' THEN
        kind := 'member'; org := (r->>'organisation_id')::uuid;
        SELECT email INTO obj FROM users WHERE id = (r->>'user_id')::uuid;
    WHEN 'invitations' THEN
        kind := 'invitation'; org := (r->>'organisation_id')::uuid; obj := r->>'email';
    WHEN 'api_tokens' THEN
        IF r->>'kind' <> 'user' THEN
            RETURN NULL;
        END IF;
        kind := 'token'; usr := (r->>'user_id')::uuid; obj := r->>'id';
    WHEN 'nodes' THEN
        kind := 'node'; obj := r->>'id';
    END CASE;
    IF proj IS NOT NULL AND org IS NULL THEN
        SELECT organisation_id, name INTO org, pname FROM projects WHERE id = proj;
    END IF;
    -- A row whose project went in the same transaction (a cascade) is
    -- told by the project's own change.
    IF org IS NULL AND usr IS NULL AND kind <> 'node' THEN
        RETURN NULL;
    END IF;
    INSERT INTO changes (organisation_id, user_id, project_id, project, kind, object)
    VALUES (org, usr, proj, coalesce(pname, ''), kind, coalesce(obj, ''));
    RETURN NULL;
END;
$$;

-- One notification per transaction that recorded changes (PostgreSQL
-- folds equal ones): it wakes every replica's streams.
CREATE FUNCTION notify_stream() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('zeitwork_stream', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION notify_stream();

CREATE TRIGGER projects_stream AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION record_change();
CREATE TRIGGER deployments_stream AFTER INSERT OR UPDATE OR DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION record_change();
CREATE TRIGGER events_stream AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION record_change();
CREATE TRIGGER instances_stream AFTER INSERT OR DELETE ON instances
    FOR EACH ROW EXECUTE FUNCTION record_change();
-- The columns the pages show; a guest's frequent reports alone are quiet.
CREATE TRIGGER instances_update_stream AFTER UPDATE ON instances
    FOR EACH ROW WHEN ((OLD.node_id, OLD.desired, OLD.state, OLD.reason, OLD.restarts, OLD.timings)
        IS DISTINCT FROM (NEW.node_id, NEW.desired, NEW.state, NEW.reason, NEW.restarts, NEW.timings))
    EXECUTE FUNCTION record_change();
CREATE TRIGGER builds_stream AFTER INSERT OR DELETE ON builds
    FOR EACH ROW EXECUTE FUNCTION record_change();
-- Stages, not lease renewals.
CREATE TRIGGER builds_update_stream AFTER UPDATE ON builds
    FOR EACH ROW WHEN ((OLD.status, OLD.reason, OLD.deployment_id) IS DISTINCT FROM (NEW.status, NEW.reason, NEW.deployment_id))
    EXECUTE FUNCTION record_change();
CREATE TRIGGER domains_stream AFTER INSERT OR UPDATE OR DELETE ON domains
    FOR EACH ROW EXECUTE FUNCTION record_change();
CREATE TRIGGER env_vars_stream AFTER INSERT OR UPDATE OR DELETE ON env_vars
    FOR EACH ROW EXECUTE FUNCTION record_change();
CREATE TRIGGER memberships_stream AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION record_change();
CREATE TRIGGER invitations_stream AFTER INSERT OR UPDATE OR DELETE ON invitations
    FOR EACH ROW EXECUTE FUNCTION record_change();
CREATE TRIGGER api_tokens_stream AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION record_change();
CREATE TRIGGER nodes_stream AFTER INSERT OR DELETE ON nodes
    FOR EACH ROW EXECUTE FUNCTION record_change();
-- State, drain, capacity and removal; heartbeats alone are quiet.
CREATE TRIGGER nodes_update_stream AFTER UPDATE ON nodes
    FOR EACH ROW WHEN ((OLD.state, OLD.drained, OLD.vcpus, OLD.memory_mib, OLD.removed_at)
        IS DISTINCT FROM (NEW.state, NEW.drained, NEW.vcpus, NEW.memory_mib, NEW.removed_at))
    EXECUTE FUNCTION record_change();
