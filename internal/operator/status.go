package operator

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Version is the operator's build version, set by main.
var Version = "dev"

// getStatus answers with what concerns the caller's organisation: its
// projects, recent deployments and their instances, and of the fleet only
// the nodes its instances run on (or were lost on), each with the count of
// its own instances there. Other tenants' nodes, counts and host names are
// not shown: there are no admin roles yet, so nobody sees the whole fleet
// through the API (the operator's metrics and log do).
func (o *Operator) getStatus(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	org := principalFrom(ctx).orgID
	nodes, err := o.store.ListNodes(ctx)
	if err != nil {
		return err
	}
	instances, err := o.store.ListOrganisationInstances(ctx, org)
	if err != nil {
		return err
	}
	perNode := map[uuid.UUID]int{}
	for _, in := range instances {
		if !in.NodeID.Valid {
			continue
		}
		n := perNode[in.NodeID.UUID] // listed even if the instance was lost there
		if in.State != api.InstanceLost {
			n++
		}
		perNode[in.NodeID.UUID] = n
	}
	out := api.Status{Version: Version, AppsDomain: o.cfg.AppsDomain, Nodes: []api.Node{}, Projects: []api.Project{}, Recent: []api.Deployment{}}
	for _, n := range nodes {
		count, ours := perNode[n.ID]
		if !ours {
			continue
		}
		out.Nodes = append(out.Nodes, api.Node{
			ID: n.ID.String(), Region: n.RegionID, Hostname: n.Hostname, Driver: n.Driver,
			Accel: n.Accel, State: n.State, Instances: count, LastHeartbeat: n.LastHeartbeatAt,
		})
	}
	projects, err := o.store.ListProjects(ctx, org)
	if err != nil {
		return err
	}
	for _, p := range projects {
		out.Projects = append(out.Projects, o.projectJSON(p, o.liveSlug(r, p)))
		deps, err := o.store.ListDeployments(ctx, db.ListDeploymentsParams{ProjectID: p.ID, Limit: 5})
		if err != nil {
			return err
		}
		for _, d := range deps {
			dj := o.deploymentJSON(p, d)
			ins, err := o.store.ListInstancesByDeployment(ctx, d.ID)
			if err != nil {
				return err
			}
			for _, in := range ins {
				if in.State != api.InstanceStopped {
					dj.Instances = append(dj.Instances, instanceJSON(in))
				}
			}
			out.Recent = append(out.Recent, dj)
		}
	}
	if out.Builds, err = o.runningBuilds(r, projects); err != nil {
		return err
	}
	if out.UnderServed, err = o.underServed(ctx, projects); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// runningBuilds are the organisation's builds that have not ended.
func (o *Operator) runningBuilds(r *http.Request, projects []db.Project) ([]api.Build, error) {
	bs, err := o.store.ListOrganisationRunningBuilds(r.Context(), principalFrom(r.Context()).orgID)
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]db.Project{}
	for _, p := range projects {
		byID[p.ID] = p
	}
	var out []api.Build
	for _, b := range bs {
		out = append(out, o.buildJSON(byID[b.ProjectID], b, ""))
	}
	return out, nil
}
