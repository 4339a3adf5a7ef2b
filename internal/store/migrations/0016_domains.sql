-- Custom domains (issue 7): a project's own host names, routed by the
-- edges only once the operator has seen both the ownership TXT record and
-- the CNAME (or A/AAAA for an apex) pointing at us. A name is held by at
-- most one project of the whole installation, whatever the organisation:
-- the unique index is what refuses a takeover.
CREATE TABLE domains (
    id              uuid PRIMARY KEY,
    project_id      uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name            text NOT NULL UNIQUE CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 253),
    -- token is the value the TXT record _zeitwork-challenge.<name> must hold.
    token           text NOT NULL,
    -- A redirect domain answers every request with redirect_status and a
    -- Location on redirect_to (a host name) instead of reaching the app.
    redirect_to     text NOT NULL DEFAULT '',
    redirect_status integer NOT NULL DEFAULT 0 CHECK (redirect_status IN (0, 301, 302, 307, 308)),
    -- pending: never verified, not routed. verified: routed. failing: was
    -- verified, its records stopped pointing at us since failing_since;
    -- still routed until the grace period ends, then unrouted: not routed
    -- until verified again.
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'failing', 'unrouted')),
    reason          text NOT NULL DEFAULT '',
    verified_at     timestamptz,
    failing_since   timestamptz,
    checked_at      timestamptz,
    next_check_at   timestamptz NOT NULL DEFAULT now(),
    failures        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domains_project_idx ON domains (project_id, name);
CREATE INDEX domains_next_check_idx ON domains (next_check_at);

-- Routing changes wake the edges; check bookkeeping alone does not.
CREATE TRIGGER domains_notify AFTER INSERT OR DELETE ON domains
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER domains_update_notify AFTER UPDATE ON domains
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.redirect_to IS DISTINCT FROM NEW.redirect_to
        OR OLD.redirect_status IS DISTINCT FROM NEW.redirect_status)
    EXECUTE FUNCTION notify_change();
