-- The direct transport (issue 7, edge hot path): a node started with
-- --direct-addr publishes each instance's app port on a host port of that
-- address (nftables DNAT), and edges started with --node-transport direct
-- dial it in plain TCP instead of the node agent's tunnel.

-- host:port an edge dials for the instance; empty: the node publishes
-- nothing (no --direct-addr), and edges use the tunnel.
ALTER TABLE instances ADD COLUMN direct_addr text NOT NULL DEFAULT '';

-- The source address an edge's connections to nodes' direct addresses
-- come from (its --direct-source, else the address its route polls came
-- from). Empty: the edge does not use the direct transport, and nodes let
-- it reach nothing that way.
ALTER TABLE edges ADD COLUMN direct_source text NOT NULL DEFAULT '';

-- A new direct address changes the edges' route table.
DROP TRIGGER instances_update_notify ON instances;
CREATE TRIGGER instances_update_notify AFTER UPDATE ON instances
    FOR EACH ROW WHEN ((OLD.deployment_id, OLD.node_id, OLD.desired, OLD.state, OLD.restarts, OLD.retiring_at, OLD.direct_addr)
        IS DISTINCT FROM (NEW.deployment_id, NEW.node_id, NEW.desired, NEW.state, NEW.restarts, NEW.retiring_at, NEW.direct_addr))
    EXECUTE FUNCTION notify_change();

-- A new or changed edge source changes the nodes' desired state (the set
-- of addresses their direct ports admit).
CREATE TRIGGER edges_insert_notify AFTER INSERT ON edges
    FOR EACH ROW WHEN (NEW.direct_source <> '')
    EXECUTE FUNCTION notify_change();
CREATE TRIGGER edges_update_notify AFTER UPDATE ON edges
    FOR EACH ROW WHEN (OLD.direct_source IS DISTINCT FROM NEW.direct_source)
    EXECUTE FUNCTION notify_change();
CREATE CONSTRAINT TRIGGER edges_version AFTER INSERT OR UPDATE OR DELETE ON edges
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();
