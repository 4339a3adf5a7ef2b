package operator

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Version is the operator's build version, set by main.
var Version = "dev"

func (o *Operator) getStatus(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	nodes, err := o.store.ListNodes(ctx)
	if err != nil {
		return err
	}
	instances, err := o.store.ListLiveInstances(ctx)
	if err != nil {
		return err
	}
	perNode := map[uuid.UUID]int{}
	for _, in := range instances {
		if in.NodeID.Valid && in.State != api.InstanceLost {
			perNode[in.NodeID.UUID]++
		}
	}
	out := api.Status{Version: Version, AppsDomain: o.cfg.AppsDomain, Nodes: []api.Node{}, Projects: []api.Project{}, Recent: []api.Deployment{}}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, api.Node{
			ID: n.ID.String(), Region: n.RegionID, Hostname: n.Hostname, Driver: n.Driver,
			Accel: n.Accel, State: n.State, Instances: perNode[n.ID], LastHeartbeat: n.LastHeartbeatAt,
		})
	}
	projects, err := o.store.ListProjects(ctx, principalFrom(ctx).orgID)
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
	writeJSON(w, http.StatusOK, out)
	return nil
}
