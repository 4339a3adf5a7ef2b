-- Scale to zero (issue 11, item 5). A project says which of its
-- deployments stop all their instances after idle_timeout_seconds without a
-- request: 'previews' (the default: preview deployments only), 'all'
-- (production too) or 'off'.
ALTER TABLE projects
    ADD COLUMN scale_to_zero text NOT NULL DEFAULT 'previews'
        CHECK (scale_to_zero IN ('off', 'previews', 'all')),
    ADD COLUMN idle_timeout_seconds integer NOT NULL DEFAULT 300
        CHECK (idle_timeout_seconds BETWEEN 1 AND 604800);

-- asleep: the deployment is ready but wants no instances until a request
-- wakes it (woken_at). Both are written rarely, by the reconciler and the
-- wake endpoint, and do notify (the route table and nodes act on them).
ALTER TABLE deployments
    ADD COLUMN asleep boolean NOT NULL DEFAULT false,
    ADD COLUMN woken_at timestamptz;

-- When edges last saw a request for a deployment, reported in batches.
-- A table of its own without a notify trigger: a report must not wake
-- every long poll of the cluster, nor rewrite the deployments row.
CREATE TABLE deployment_activity (
    deployment_id   uuid PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    last_request_at timestamptz NOT NULL
);
