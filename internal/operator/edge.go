package operator

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// routeCache keeps the last table computed, keyed by hub version, so that
// many edges polling at once cost one query.
type routeCache struct {
	mu    sync.Mutex
	table *api.RouteTable
}

func (o *Operator) edgeRoutes(w http.ResponseWriter, r *http.Request) error {
	o.waitForChange(r, 25*time.Second)
	t, err := o.RouteTable(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// RouteTable returns the hosts the edges serve and their healthy backends.
func (o *Operator) RouteTable(ctx context.Context) (*api.RouteTable, error) {
	version, _ := o.hub.Version()
	o.lastRoutes.mu.Lock()
	defer o.lastRoutes.mu.Unlock()
	if t := o.lastRoutes.table; t != nil && t.Version == version {
		return t, nil
	}
	t, err := o.buildRoutes(ctx, version)
	if err != nil {
		return nil, err
	}
	o.lastRoutes.table = t
	return t, nil
}

func (o *Operator) buildRoutes(ctx context.Context, version int64) (*api.RouteTable, error) {
	nodes, err := o.store.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	addr := map[uuid.UUID]string{}
	for _, n := range nodes {
		if n.State == "ready" {
			addr[n.ID] = n.TunnelAddr
		}
	}
	projects, err := o.store.ListAllProjects(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]db.Project{}
	for _, p := range projects {
		byID[p.ID] = p
	}
	deps, err := o.store.ListActiveDeployments(ctx)
	if err != nil {
		return nil, err
	}
	instances, err := o.store.ListLiveInstances(ctx)
	if err != nil {
		return nil, err
	}
	backends := map[uuid.UUID][]api.Backend{}
	for _, in := range instances {
		a, ok := addr[in.NodeID.UUID]
		if in.State == api.InstanceHealthy && in.Desired == "running" && ok {
			backends[in.DeploymentID] = append(backends[in.DeploymentID], api.Backend{Instance: in.ID.String(), NodeAddr: a})
		}
	}
	t := &api.RouteTable{Version: version, AppsDomain: o.cfg.AppsDomain, TunnelToken: o.cfg.TunnelToken, Routes: []api.Route{}}
	for _, d := range deps {
		p, ok := byID[d.ProjectID]
		if !ok {
			continue
		}
		route := api.Route{
			Host: p.Name + "-" + d.Slug + "." + o.cfg.AppsDomain, Project: p.Name,
			Deployment: d.Slug, Status: d.Status, Backends: backends[d.ID],
		}
		t.Routes = append(t.Routes, route)
		if p.LiveDeploymentID.Valid && p.LiveDeploymentID.UUID == d.ID {
			route.Host = p.Name + "." + o.cfg.AppsDomain
			t.Routes = append(t.Routes, route)
		}
	}
	sort.Slice(t.Routes, func(i, j int) bool { return t.Routes[i].Host < t.Routes[j].Host })
	return t, nil
}
