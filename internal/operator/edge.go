package operator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
	if err := o.recordEdgeRegion(r); err != nil {
		return err
	}
	if err := o.recordEdgeDirectSource(r); err != nil {
		return err
	}
	o.waitForChange(r, 25*time.Second)
	t, err := o.RouteTable(r.Context())
	if err != nil {
		return err
	}
	// The edge may have been removed while it waited: no answer after
	// its removal (as for a node's desired state).
	if _, err := o.authenticate(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// RouteTable returns the hosts the edges serve and their healthy backends.
func (o *Operator) RouteTable(ctx context.Context) (*api.RouteTable, error) {
	version := o.currentVersion(ctx)
	o.lastRoutes.mu.Lock()
	defer o.lastRoutes.mu.Unlock()
	if t := o.lastRoutes.table; t != nil && t.Version == version {
		return t, nil
	}
	t, err := o.buildRoutes(ctx, o.store.Pool, version)
	if err != nil {
		return nil, err
	}
	o.lastRoutes.table = t
	return t, nil
}

// txBeginner is the pool, as buildRoutes needs it; tests wrap it.
type txBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// buildRoutes reads nodes, projects, deployments, instances and custom
// domains in one repeatable-read transaction, so that all come from one snapshot.
// Read one by one, a promotion committed between them gave a torn table:
// projects still naming the old deployment live, deployments already
// without it, and so no route for the project URL (404) until the next table.
func (o *Operator) buildRoutes(ctx context.Context, pool txBeginner, version int64) (*api.RouteTable, error) {
	var t *api.RouteTable
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, pool, opts, func(tx pgx.Tx) error {
		var err error
		t, err = o.routesFrom(ctx, db.New(tx), version)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("build route table: %w", err)
	}
	return t, nil
}

// routesFrom builds the table from what q reads.
func (o *Operator) routesFrom(ctx context.Context, q *db.Queries, version int64) (*api.RouteTable, error) {
	nodes, err := q.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	ready := map[uuid.UUID]db.Node{}
	for _, n := range nodes {
		if n.State == "ready" {
			ready[n.ID] = n
		}
	}
	projects, err := q.ListAllProjects(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]db.Project{}
	for _, p := range projects {
		byID[p.ID] = p
	}
	deps, err := q.ListActiveDeployments(ctx)
	if err != nil {
		return nil, err
	}
	instances, err := q.ListLiveInstances(ctx)
	if err != nil {
		return nil, err
	}
	backends := map[uuid.UUID][]api.Backend{}
	for _, in := range instances {
		n, ok := ready[in.NodeID.UUID]
		// A retiring instance (its node is drained) leaves the table
		// before its node stops it, so no request is sent to a stopping VM.
		if in.State == api.InstanceHealthy && in.Desired == "running" && in.RetiringAt == nil && ok {
			backends[in.DeploymentID] = append(backends[in.DeploymentID], api.Backend{Instance: in.ID.String(),
				NodeAddr: n.TunnelAddr, Region: n.RegionID, Node: n.ID.String(), DirectAddr: in.DirectAddr})
		}
	}
	var routes []api.Route
	live := map[uuid.UUID]api.Route{} // project -> its project URL's route
	// Oldest deployment first (ListActiveDeployments' order), so that
	// uniqueHosts lets the route that had a host first keep it.
	for _, d := range deps {
		p, ok := byID[d.ProjectID]
		if !ok {
			continue
		}
		route := api.Route{
			Host: api.VersionedLabel(p.Name, d.Slug) + "." + o.cfg.AppsDomain, Project: p.Name,
			Deployment: d.Slug, Status: d.Status, Backends: backends[d.ID], Limits: rateLimitsOrNil(p),
			HSTSMaxAge: int(p.HstsMaxAge), PlainHTTP: !p.HttpsRedirectVersioned,
		}
		if d.Status == api.StatusReady && api.ScalesToZero(p.ScaleToZero, d.Preview) {
			route.ScaleToZero, route.IdleTimeout = true, int(p.IdleTimeoutSeconds)
		}
		routes = append(routes, route)
		if p.LiveDeploymentID.Valid && p.LiveDeploymentID.UUID == d.ID {
			// The project URL (and the custom domains, which copy
			// this route) is always redirected to HTTPS.
			route.Host, route.PlainHTTP = p.Name+"."+o.cfg.AppsDomain, false
			routes = append(routes, route)
			live[p.ID] = route
		}
	}
	domains, err := q.ListRoutedDomains(ctx)
	if err != nil {
		return nil, err
	}
	// After the projects' own hosts, so that those keep theirs (the
	// operator refuses domains under the apps domain anyway).
	routes = append(routes, domainRoutes(domains, byID, live)...)
	regions, err := q.ListRegions(ctx)
	if err != nil {
		return nil, err
	}
	t := &api.RouteTable{Version: version, AppsDomain: o.cfg.AppsDomain,
		Routes: uniqueHosts(routes, o.log), Regions: make([]string, 0, len(regions))}
	for _, rg := range regions {
		t.Regions = append(t.Regions, rg.ID)
	}
	sort.Slice(t.Routes, func(i, j int) bool { return t.Routes[i].Host < t.Routes[j].Host })
	return t, nil
}

// domainRoutes routes each verified (or failing, within its grace) custom
// domain like its project's URL, to the live deployment, or, for a
// redirect domain, to its redirect. A domain of a project with nothing
// live has no route (the edge answers 404).
func domainRoutes(domains []db.Domain, projects map[uuid.UUID]db.Project, live map[uuid.UUID]api.Route) []api.Route {
	var out []api.Route
	for _, d := range domains {
		p, ok := projects[d.ProjectID]
		if !ok {
			continue
		}
		if d.RedirectTo != "" {
			out = append(out, api.Route{Host: d.Name, Project: p.Name, Redirect: d.RedirectTo,
				RedirectStatus: int(d.RedirectStatus), Limits: rateLimitsOrNil(p), HSTSMaxAge: int(p.HstsMaxAge)})
			continue
		}
		if r, ok := live[p.ID]; ok {
			r.Host = d.Name
			out = append(out, r)
		}
	}
	return out
}

// uniqueHosts drops every route whose host an earlier route has. Host names
// are unambiguous by construction (api.VersionedLabel), so this only acts
// on a bug; it then keeps the owner rather than let a newcomer steal the
// host's traffic, and says so in the log.
func uniqueHosts(routes []api.Route, log *slog.Logger) []api.Route {
	owner := make(map[string]string, len(routes)) // host -> deployment
	out := make([]api.Route, 0, len(routes))
	for _, r := range routes {
		if prev, taken := owner[r.Host]; taken {
			log.Error("two routes for one host; the older keeps it", "host", r.Host, "deployment", r.Deployment, "owner", prev)
			continue
		}
		owner[r.Host] = r.Deployment
		out = append(out, r)
	}
	return out
}
