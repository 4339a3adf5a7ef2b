-- Regions and capacity (issue 8): what each node offers the scheduler,
-- whether an administrator drained it, and which regions a project runs in.

-- Capacity 0 means unknown (an agent older than this column): the
-- scheduler then places on the node without a capacity check.
ALTER TABLE nodes
    ADD COLUMN vcpus      integer NOT NULL DEFAULT 0 CHECK (vcpus >= 0),
    ADD COLUMN memory_mib integer NOT NULL DEFAULT 0 CHECK (memory_mib >= 0),
    ADD COLUMN disk_gib   integer NOT NULL DEFAULT 0 CHECK (disk_gib >= 0),
    -- A drained node gets no new instances; its instances move elsewhere.
    ADD COLUMN drained    boolean NOT NULL DEFAULT false;

-- Empty: every region that has nodes.
ALTER TABLE projects ADD COLUMN regions text[] NOT NULL DEFAULT '{}';

-- Set when an instance of a drained node leaves the route table because
-- its replacements are healthy; it is stopped once edges had time to see
-- the table without it.
ALTER TABLE instances ADD COLUMN retiring_at timestamptz;

-- Draining and capacity change placements; retiring changes routes.
DROP TRIGGER nodes_update_notify ON nodes;
CREATE TRIGGER nodes_update_notify AFTER UPDATE ON nodes
    FOR EACH ROW WHEN ((OLD.state, OLD.tunnel_addr, OLD.drained, OLD.vcpus, OLD.memory_mib)
        IS DISTINCT FROM (NEW.state, NEW.tunnel_addr, NEW.drained, NEW.vcpus, NEW.memory_mib))
    EXECUTE FUNCTION notify_change();
DROP TRIGGER instances_update_notify ON instances;
CREATE TRIGGER instances_update_notify AFTER UPDATE ON instances
    FOR EACH ROW WHEN ((OLD.deployment_id, OLD.node_id, OLD.desired, OLD.state, OLD.restarts, OLD.retiring_at)
        IS DISTINCT FROM (NEW.deployment_id, NEW.node_id, NEW.desired, NEW.state, NEW.restarts, NEW.retiring_at))
    EXECUTE FUNCTION notify_change();
