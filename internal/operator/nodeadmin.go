package operator

import (
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// listNodes is GET /v1/nodes for the installation's administrators: every
// node with its region, state, capacity and what its instances use.
func (o *Operator) listNodes(w http.ResponseWriter, r *http.Request) error {
	nodes, err := o.store.ListNodes(r.Context())
	if err != nil {
		return err
	}
	instances, err := o.store.ListPlacementInstances(r.Context(), o.cfg.Drain.Seconds())
	if err != nil {
		return err
	}
	used := map[uuid.UUID]*api.Sizes{}
	count := map[uuid.UUID]int{}
	for _, in := range instances {
		if !in.NodeID.Valid || in.State == api.InstanceLost {
			continue
		}
		u := used[in.NodeID.UUID]
		if u == nil {
			u = &api.Sizes{}
			used[in.NodeID.UUID] = u
		}
		u.VCPUs += int(in.Vcpus)
		u.MemoryMiB += int(in.MemoryMib)
		count[in.NodeID.UUID]++
	}
	out := []api.Node{}
	for _, n := range nodes {
		u := used[n.ID]
		if u == nil {
			u = &api.Sizes{}
		}
		out = append(out, adminNodeJSON(n, u, count[n.ID]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func adminNodeJSON(n db.Node, used *api.Sizes, instances int) api.Node {
	return api.Node{
		ID: n.ID.String(), Region: n.RegionID, Hostname: n.Hostname, Driver: n.Driver, Accel: n.Accel,
		State: n.State, Instances: instances, LastHeartbeat: n.LastHeartbeatAt, Drained: n.Drained,
		Capacity: &api.Sizes{VCPUs: int(n.Vcpus), MemoryMiB: int(n.MemoryMib), DiskGiB: int(n.DiskGib)},
		Used:     used, DiskFreeMiB: nullInt(n.DiskFreeMib),
	}
}

// drainNode is POST /v1/nodes/{node}/drain: the node gets no new
// instances, and the reconciler moves its instances elsewhere: replacement
// healthy, old one out of the route table, then stopped.
func (o *Operator) drainNode(w http.ResponseWriter, r *http.Request) error {
	return o.setDrained(w, r, true)
}

// undrainNode is POST /v1/nodes/{node}/undrain: the node takes new
// instances again. Instances already moved stay where they are.
func (o *Operator) undrainNode(w http.ResponseWriter, r *http.Request) error {
	return o.setDrained(w, r, false)
}

func (o *Operator) setDrained(w http.ResponseWriter, r *http.Request, drained bool) error {
	n, err := o.findNode(r, r.PathValue("node"), false)
	if err != nil {
		return err
	}
	auditFrom(r.Context()).setObject("node", n.ID.String())
	n, err = o.store.SetNodeDrained(r.Context(), db.SetNodeDrainedParams{ID: n.ID, Drained: drained})
	if err != nil {
		return err
	}
	o.log.Info("node drain changed", "node", n.ID, "drained", drained)
	o.hub.Bump()
	writeJSON(w, http.StatusOK, adminNodeJSON(n, &api.Sizes{}, 0))
	return nil
}

// findNode finds a node by its ID, a unique prefix of it (4 characters or
// more), or its unique host name. Removed nodes are found only when
// withRemoved is set (removing one again is harmless; draining it is not
// meaningful).
func (o *Operator) findNode(r *http.Request, ref string, withRemoved bool) (db.Node, error) {
	prefix := refPrefix(ref)
	nodes, err := o.store.FindNodes(r.Context(), db.FindNodesParams{Prefix: prefix, Name: ref})
	if err != nil {
		return db.Node{}, err
	}
	if !withRemoved {
		nodes = slices.DeleteFunc(nodes, func(n db.Node) bool { return n.RemovedAt != nil })
	}
	return pickRef(nodes, func(n db.Node) uuid.UUID { return n.ID }, prefix, ref, "node", "zeitwork nodes list")
}

// nullInt is n, or nil when NULL.
func nullInt(n pgtype.Int4) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int32)
	return &v
}
