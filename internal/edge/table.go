package edge

import (
	"sync/atomic"

	"github.com/zeitwork/zeitwork/internal/api"
)

// table is an immutable snapshot of the routes, swapped whole on updates.
type table struct {
	version int64
	token   string // tunnel token presented to node agents
	hosts   map[string]*route
}

// route is one host's deployment and its backends in round-robin order.
type route struct {
	host       string
	project    string
	deployment string
	limits     *api.RateLimits // nil: no rate limit
	status     string
	// redirect, for a redirect domain, is the host every request is sent
	// on to with redirectStatus, instead of a backend.
	redirect       string
	redirectStatus int
	// hsts is the project's HSTS max-age (0: the edge's default) and
	// plainHTTP serves the host over HTTP without a redirect (TLSPolicy).
	hsts      int
	plainHTTP bool
	// backends are in order of preference: the edge's own region's
	// instances first, then by Config.RegionOrder; tiers holds the end
	// index of each group of one rank, round-robin within it.
	backends []*backend
	tiers    []int
	next     atomic.Uint32
	// series is the project's metrics (nil without Config.Metrics).
	series *projectSeries

	// scaleToZero: the deployment stops when idle; activity (nil unless
	// the edge has a Config.Wake) is where its requests are noted.
	scaleToZero bool
	activity    *activity
}

// pick returns the round-robin position: attempts start from it within
// each tier.
func (r *route) pick() uint32 {
	return r.next.Add(1) - 1
}

// backendKey identifies one instance behind one node agent; an instance
// moved to another address is another backend with its own pool. direct
// is the instance's direct address when the edge uses the direct
// transport (else empty): republished elsewhere, it is another backend too.
type backendKey struct{ instance, nodeAddr, direct string }

// apply builds a table from rt, reusing the backends (and so their idle
// connections) of instances that stay, and closes those that went away.
func (e *Edge) apply(rt api.RouteTable) {
	e.mu.Lock()
	defer e.mu.Unlock()
	live := make(map[backendKey]*backend, len(e.backends))
	nodes := make(map[string]*nodeHealth, len(e.nodes))
	series := map[string]*projectSeries{}
	activities := map[string]*activity{}
	t := &table{version: rt.Version, token: rt.TunnelToken, hosts: make(map[string]*route, len(rt.Routes))}
	for _, r := range rt.Routes {
		ro := &route{host: r.Host, project: r.Project, deployment: r.Deployment, status: r.Status,
			redirect: r.Redirect, redirectStatus: r.RedirectStatus, hsts: r.HSTSMaxAge, plainHTTP: r.PlainHTTP}
		ro.series = e.projectSeries(series, r.Project)
		if r.ScaleToZero && r.Deployment != "" {
			ro.scaleToZero = true
			if e.cfg.Wake != nil {
				ro.activity = e.activityFor(activities, r.Deployment, r.IdleTimeout)
			}
		}
		if r.Limits != nil && r.Limits.On() {
			ro.limits = r.Limits
		}
		for _, b := range r.Backends {
			k := backendKey{b.Instance, b.NodeAddr, ""}
			if e.cfg.DirectTransport {
				k.direct = b.DirectAddr
			}
			nk := nodeKey(b.Node, b.NodeAddr)
			be := e.backends[k]
			if be == nil {
				be = newBackend(k, &e.cfg, &e.stats, b.Region, e.nodeHealth(nodes, nk))
				be.nodeID = b.Node
			}
			nodes[nk] = be.node
			live[k] = be
			ro.backends = append(ro.backends, be)
		}
		ro.tiers = e.cfg.tierBackends(ro.backends)
		// Hosts come from the operator already normal; normalising again
		// makes a sloppy table still match what clients send.
		host := normalizeHost(r.Host)
		if prev := t.hosts[host]; prev != nil {
			// The operator lists each host once, its owner first; if a
			// table ever holds two, the first keeps the host so that a
			// later route cannot take over another app's traffic.
			e.log.Error("edge: two routes for one host; the first keeps it", "host", host,
				"deployment", r.Deployment, "owner", prev.deployment)
			continue
		}
		t.hosts[host] = ro
	}
	old := e.backends
	e.backends = live
	e.nodes = nodes
	e.activities = activities
	e.table.Store(t)
	e.signalTable()
	for _, d := range e.wakes.woken(t) {
		if e.wakeLatency != nil {
			e.wakeLatency.Observe(d.Seconds())
		}
		e.log.Info("edge: deployment woke", "took", d)
	}
	e.dropSeries(series)
	for k, be := range old {
		if live[k] == nil {
			be.close()
		}
	}
	e.log.Info("edge: routes updated", "version", rt.Version, "hosts", len(t.hosts), "backends", len(live))
	e.checkKnownRegion(rt.Regions)
}

// nodeHealth returns the node's health for the table being built (kept
// in next), reusing the current table's, so that a suspicion outlives
// table updates.
func (e *Edge) nodeHealth(next map[string]*nodeHealth, key string) *nodeHealth {
	if n := next[key]; n != nil {
		return n
	}
	n := e.nodes[key]
	if n == nil {
		n = &nodeHealth{}
	}
	next[key] = n
	return n
}

// projectSeries returns project's metric series for the table being built
// (kept in next), reusing the current table's. Nil without metrics.
func (e *Edge) projectSeries(next map[string]*projectSeries, project string) *projectSeries {
	if e.projects == nil {
		return nil
	}
	if s := next[project]; s != nil {
		return s
	}
	s := e.series[project]
	if s == nil {
		s = e.projects.series(project)
	}
	next[project] = s
	return s
}

// dropSeries deletes the series of projects that left the table, so that
// projects coming and going cannot grow the edge's memory (and the scrape)
// for ever, and makes next the current set.
func (e *Edge) dropSeries(next map[string]*projectSeries) {
	if e.projects == nil {
		return
	}
	for p := range e.series {
		if next[p] == nil {
			e.projects.delete(p)
		}
	}
	e.series = next
}
