-- Edge access log lines (issue 7, operability): edges ship one JSON line per
-- request for a routed project; `zeitwork logs --edge <project>` reads them.
-- Kept as long as app log lines (LogRetention) and gone with the project.
CREATE TABLE edge_log_lines (
    id         bigserial PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    logged_at  timestamptz NOT NULL,
    line       text NOT NULL
);
CREATE INDEX edge_log_lines_project_idx ON edge_log_lines (project_id, id);
CREATE INDEX edge_log_lines_logged_at_idx ON edge_log_lines (logged_at);

-- Followers (`logs --edge -f`) wake on the same channel as app logs; one
-- notification per statement, since a batch holds many lines.
CREATE FUNCTION notify_edge_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('zeitwork_logs', 'edge');
    RETURN NULL;
END;
$$;

CREATE TRIGGER edge_log_lines_notify AFTER INSERT ON edge_log_lines
    FOR EACH STATEMENT EXECUTE FUNCTION notify_edge_log();
