-- State changes: a node's report of a permanent failure is recorded for the
-- reconciler to act on, and the retention prunes find old rows by index
-- instead of scanning the two tables that grow fastest.

-- Set when a node reports that an instance of a deploying deployment failed
-- in a way retrying cannot fix; the reconciler then fails the deployment.
ALTER TABLE deployments ADD COLUMN failed_permanently boolean NOT NULL DEFAULT false;

CREATE INDEX log_lines_logged_at_idx ON log_lines (logged_at);
CREATE INDEX events_created_at_idx ON events (created_at);
