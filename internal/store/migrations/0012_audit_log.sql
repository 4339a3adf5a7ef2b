-- Audit log (issue 9): one row per state-changing request to the API, the
-- git remote or the GitHub webhook, refused and failed ones included.
--
-- No foreign keys: an entry must outlive what it names (a deleted
-- project, a revoked token, a removed user), and a cascade would have to
-- delete or update entries, which the trigger below refuses. Names are
-- stored as given (project, object) so that an entry reads the same
-- after the object is gone. Nothing of a request's body is stored.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- NULL: no organisation is known (a request refused before its
    -- token was, a webhook delivery that touched no project); such rows
    -- are readable by no organisation.
    organisation_id uuid,
    project_id      uuid,
    project         text NOT NULL DEFAULT '',
    -- actor_kind is the token's kind (user, node, edge, build), or a
    -- system actor: github (webhook deliveries), admin (the operator's
    -- admin token), join (node registration), anonymous (no valid token).
    actor_kind      text NOT NULL,
    -- actor_role is the role the actor acted in, once organisations have
    -- roles; empty before.
    actor_role      text NOT NULL DEFAULT '',
    user_id         uuid,
    token_id        uuid,
    action          text NOT NULL,
    object_kind     text NOT NULL DEFAULT '',
    object          text NOT NULL DEFAULT '',
    method          text NOT NULL,
    path            text NOT NULL,
    client_addr     text NOT NULL DEFAULT '',
    status          integer NOT NULL,
    error           text NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_org ON audit_log (organisation_id, id DESC);
CREATE INDEX audit_log_created ON audit_log (created_at);

-- Append-only: rows are never updated, and deleted only by
-- audit_log_prune, which marks its transaction so the trigger lets its
-- deletes through. This guards against the application's own mistakes
-- (a query or a cascade that would rewrite history); it is not a barrier
-- against someone holding the operator's database credentials, who owns
-- the table and could drop the trigger (docs/security.md).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('zeitwork.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- audit_log_prune deletes up to batch entries older than keep_seconds and
-- returns how many it deleted: the only path past the trigger. The mark
-- is local to the transaction and cleared before returning.
CREATE FUNCTION audit_log_prune(keep_seconds float8, batch integer) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('zeitwork.audit_prune', 'on', true);
    DELETE FROM audit_log WHERE id IN (
        SELECT id FROM audit_log
        WHERE created_at < now() - make_interval(secs => keep_seconds)
        ORDER BY id LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('zeitwork.audit_prune', '', true);
    RETURN n;
END;
$$;
