-- Instance updates notify only when a column that reconcilers, nodes or
-- edges act on changes: a guest decides how often its node reports, and
-- every notification wakes every long poll in the cluster.
DROP TRIGGER instances_notify ON instances;
CREATE TRIGGER instances_notify AFTER INSERT OR DELETE ON instances
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER instances_update_notify AFTER UPDATE ON instances
    FOR EACH ROW WHEN ((OLD.deployment_id, OLD.node_id, OLD.desired, OLD.state, OLD.restarts)
        IS DISTINCT FROM (NEW.deployment_id, NEW.node_id, NEW.desired, NEW.state, NEW.restarts))
    EXECUTE FUNCTION notify_change();
