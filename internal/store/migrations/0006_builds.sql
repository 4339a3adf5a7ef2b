-- Builds (issue 6): a build turns a source (an uploaded context or a git
-- commit) into an image in the built-in registry and, when it succeeds, a
-- deployment of that exact digest. Builds are queued here and claimed by
-- operator replicas with FOR UPDATE SKIP LOCKED under a lease, so that a
-- replica that dies mid-build does not leave its build stuck.

-- The branch whose builds go live on the project URL; builds of other
-- branches make previews. Uploads (no branch) count as production.
ALTER TABLE projects ADD COLUMN production_branch text NOT NULL DEFAULT 'main';

CREATE TABLE builds (
    id               uuid PRIMARY KEY,
    project_id       uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source           text NOT NULL CHECK (source IN ('upload', 'git')),
    commit_sha       text NOT NULL DEFAULT '',
    branch           text NOT NULL DEFAULT '',
    commit_message   text NOT NULL DEFAULT '',
    commit_author    text NOT NULL DEFAULT '',
    dockerfile       text NOT NULL DEFAULT 'Dockerfile',
    target           text NOT NULL DEFAULT '',
    -- Preview builds create deployments that never go live.
    preview          boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'building', 'pushing', 'done', 'failed', 'cancelled')),
    reason           text NOT NULL DEFAULT '',
    -- Stage durations in milliseconds (extract, build, push, deploy).
    timings          jsonb NOT NULL DEFAULT '{}',
    image_digest     text NOT NULL DEFAULT '',
    deployment_id    uuid REFERENCES deployments (id) ON DELETE SET NULL,
    -- Claims: attempts counts them; an expired lease is retried once.
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text NOT NULL DEFAULT '',
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX builds_project_idx ON builds (project_id, created_at DESC);
CREATE INDEX builds_queued_idx ON builds (created_at) WHERE status = 'queued';
CREATE INDEX builds_running_idx ON builds (lease_expires_at) WHERE status IN ('building', 'pushing');

-- The uploaded context archive, kept in the database so that any replica
-- can run the build; deleted when the build ends.
CREATE TABLE build_contexts (
    build_id uuid PRIMARY KEY REFERENCES builds (id) ON DELETE CASCADE,
    archive  bytea NOT NULL
);

CREATE TABLE build_log_lines (
    id        bigserial PRIMARY KEY,
    build_id  uuid NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    logged_at timestamptz NOT NULL DEFAULT now(),
    line      text NOT NULL
);
CREATE INDEX build_log_lines_build_idx ON build_log_lines (build_id, id);
CREATE INDEX build_log_lines_logged_at_idx ON build_log_lines (logged_at);

-- Deployments made by builds of other branches than production.
ALTER TABLE deployments ADD COLUMN preview boolean NOT NULL DEFAULT false;

-- Status changes wake the build workers (a cancel reaches the replica that
-- runs the build) and clients following a build; lease renewals do not.
CREATE TRIGGER builds_notify AFTER INSERT OR DELETE ON builds
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER builds_update_notify AFTER UPDATE ON builds
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION notify_change();

CREATE FUNCTION notify_build_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('zeitwork_logs', NEW.build_id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER build_log_lines_notify AFTER INSERT ON build_log_lines
    FOR EACH ROW EXECUTE FUNCTION notify_build_log();
