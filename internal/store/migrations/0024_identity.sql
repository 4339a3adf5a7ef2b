-- Per-host identity (issue 8): the cluster's CA, single-use join tokens,
-- and removed nodes.

-- The operator's CA. One row; its key is sealed with the seal key.
CREATE TABLE cluster_ca (
    id         integer PRIMARY KEY CHECK (id = 1),
    cert_pem   bytea NOT NULL,
    key_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A join token lets one node or edge enrol, once, before it expires. Only
-- its SHA-256 is stored.
CREATE TABLE join_tokens (
    id         uuid PRIMARY KEY,
    role       text NOT NULL CHECK (role IN ('node', 'edge')),
    token_hash bytea NOT NULL UNIQUE,
    created_by text NOT NULL DEFAULT '',
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    -- used_by is the node or edge token that enrolled with it.
    used_by    uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A removed node keeps its row (its instances' history names it) but no
-- token: it is refused, and its instances are rescheduled.
ALTER TABLE nodes ADD COLUMN removed_at timestamptz;

-- Removing a node that is already down wakes every replica too, which ends
-- the node's long-polls.
CREATE TRIGGER nodes_removed_notify AFTER UPDATE ON nodes
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at)
    EXECUTE FUNCTION notify_change();
