-- Initial schema: tenants, access, fleet, apps and their runtime state.

CREATE TABLE organisations (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    email           text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE regions (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE nodes (
    id                uuid PRIMARY KEY,
    region_id         text NOT NULL REFERENCES regions (id),
    hostname          text NOT NULL,
    tunnel_addr       text NOT NULL,
    driver            text NOT NULL,
    accel             text NOT NULL,
    state             text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'down')),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Only SHA-256 hashes of tokens are stored; the token itself is shown once.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('user', 'node', 'edge')),
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    node_id      uuid REFERENCES nodes (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    CHECK ((kind = 'user') = (user_id IS NOT NULL)),
    CHECK ((kind = 'node') = (node_id IS NOT NULL))
);

CREATE TABLE projects (
    id                       uuid PRIMARY KEY,
    organisation_id          uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    -- Names are global: they are DNS labels under the apps domain.
    name                     text NOT NULL UNIQUE,
    min_instances_per_region integer NOT NULL DEFAULT 3 CHECK (min_instances_per_region BETWEEN 1 AND 100),
    port                     integer NOT NULL DEFAULT 8080 CHECK (port BETWEEN 1 AND 65535),
    -- Empty: a TCP connection to the port is the health check; else an
    -- HTTP GET of this path must answer 2xx or 3xx.
    health_path              text NOT NULL DEFAULT '',
    memory_mib               integer NOT NULL DEFAULT 256 CHECK (memory_mib BETWEEN 64 AND 65536),
    vcpus                    integer NOT NULL DEFAULT 1 CHECK (vcpus BETWEEN 1 AND 64),
    live_deployment_id       uuid,
    created_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE images (
    id         uuid PRIMARY KEY,
    reference  text NOT NULL,
    digest     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (reference, digest)
);

CREATE TABLE deployments (
    id            uuid PRIMARY KEY,
    -- slug is the short id in the versioned URL <project>-<slug>.<domain>.
    slug          text NOT NULL UNIQUE,
    project_id    uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    image_ref     text NOT NULL,
    image_id      uuid REFERENCES images (id),
    status        text NOT NULL DEFAULT 'deploying'
                  CHECK (status IN ('deploying', 'ready', 'failed', 'stopped')),
    status_reason text NOT NULL DEFAULT '',
    failures      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    ready_at      timestamptz
);
CREATE INDEX deployments_project_idx ON deployments (project_id, created_at DESC);

ALTER TABLE projects ADD CONSTRAINT projects_live_deployment_fk
    FOREIGN KEY (live_deployment_id) REFERENCES deployments (id) ON DELETE SET NULL;

CREATE TABLE instances (
    id            uuid PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    region_id     text NOT NULL REFERENCES regions (id),
    node_id       uuid REFERENCES nodes (id) ON DELETE SET NULL,
    -- desired is what the operator wants; state is what the node reported.
    desired       text NOT NULL DEFAULT 'running' CHECK (desired IN ('running', 'stopped')),
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'starting', 'healthy', 'failed', 'stopped', 'lost')),
    reason        text NOT NULL DEFAULT '',
    address       text NOT NULL DEFAULT '',
    restarts      integer NOT NULL DEFAULT 0,
    -- Boot stage durations in milliseconds, from the first healthy start.
    timings       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    healthy_at    timestamptz
);
CREATE INDEX instances_deployment_idx ON instances (deployment_id);
CREATE INDEX instances_node_idx ON instances (node_id) WHERE state <> 'stopped';

-- Env vars are sealed with AES-256-GCM; the key never reaches the database.
CREATE TABLE env_vars (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       text NOT NULL,
    sealed     bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, name)
);

CREATE TABLE events (
    id            bigserial PRIMARY KEY,
    project_id    uuid REFERENCES projects (id) ON DELETE CASCADE,
    deployment_id uuid REFERENCES deployments (id) ON DELETE CASCADE,
    instance_id   uuid REFERENCES instances (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    message       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_deployment_idx ON events (deployment_id, id);

CREATE TABLE log_lines (
    id            bigserial PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    instance_id   uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    stream        text NOT NULL,
    logged_at     timestamptz NOT NULL,
    line          text NOT NULL
);
CREATE INDEX log_lines_deployment_idx ON log_lines (deployment_id, id);

-- Every change that reconcilers, edges or nodes care about wakes them up.
CREATE FUNCTION notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('zeitwork_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

-- Row-level, so that statements which change nothing wake nobody; PostgreSQL
-- folds identical notifications of one transaction into one.
CREATE TRIGGER deployments_notify AFTER INSERT OR UPDATE OR DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER instances_notify AFTER INSERT OR UPDATE OR DELETE ON instances
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER projects_notify AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER env_vars_notify AFTER INSERT OR UPDATE OR DELETE ON env_vars
    FOR EACH ROW EXECUTE FUNCTION notify_change();
-- Heartbeats update nodes often; only changes of state or address matter.
CREATE TRIGGER nodes_notify AFTER INSERT OR DELETE ON nodes
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER nodes_update_notify AFTER UPDATE ON nodes
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.tunnel_addr IS DISTINCT FROM NEW.tunnel_addr)
    EXECUTE FUNCTION notify_change();

CREATE FUNCTION notify_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('zeitwork_logs', NEW.deployment_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER log_lines_notify AFTER INSERT ON log_lines
    FOR EACH ROW EXECUTE FUNCTION notify_log();
