package operator_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// registerSized registers a fake node that offers vcpus and mem MiB.
func (h *harness) registerSized(region, addr string, vcpus, mem int) *fakeNode {
	h.t.Helper()
	var resp api.RegisterNodeResponse
	code := h.call("POST", "/v1/nodes/register", h.srv.JoinToken(h.t, "node"), api.RegisterNodeRequest{
		Region: region, Hostname: addr, TunnelAddr: addr, Driver: "fake", Accel: "tcg", VCPUs: vcpus, MemoryMiB: mem,
		CSR: testCSR(h.t),
	}, &resp)
	if code != 200 {
		h.t.Fatalf("register: %d", code)
	}
	return &fakeNode{h: h, id: resp.NodeID, token: resp.NodeToken}
}

// deploy creates project name (with req's sizes) and deploys a tiny image.
func (h *harness) deploy(req api.CreateProjectRequest) api.Deployment {
	h.t.Helper()
	if code := h.call("POST", "/v1/projects", h.token, req, nil); code != 201 {
		h.t.Fatalf("create project: %d", code)
	}
	ref := h.pushImage(req.Name, image.ImageConfig{Entrypoint: []string{"/app"}})
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/"+req.Name+"/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		h.t.Fatalf("create deployment: %d", code)
	}
	return d
}

// runningOf lists the instances of deployment d the node must run.
func (n *fakeNode) runningOf(d string) []api.DesiredInstance {
	var out []api.DesiredInstance
	for _, in := range running(n.desired()) {
		if in.Deployment == d {
			out = append(out, in)
		}
	}
	return out
}

// healthyAll reports every instance the node must run healthy.
func (n *fakeNode) healthyAll() {
	for _, in := range running(n.desired()) {
		n.report(in.ID, api.InstanceHealthy, "")
	}
}

// backends lists the instance IDs the edges route host to.
func (h *harness) backends(host string) map[string]bool {
	h.t.Helper()
	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge-"+time.Now().Format("150405.000000000"))
	if err != nil {
		h.t.Fatal(err)
	}
	var routes api.RouteTable
	h.call("GET", "/v1/edge/routes", edgeToken, nil, &routes)
	out := map[string]bool{}
	for _, r := range routes.Routes {
		if r.Host == host {
			for _, b := range r.Backends {
				out[b.Instance] = true
			}
		}
	}
	return out
}

// TestNodeDownAndBack: a silent node's instances are placed again on the
// other node of its region (not in another region), and when it comes back
// the instances it still runs are not wanted there, nor routed, so there
// are never more live copies than planned.
func TestNodeDownAndBack(t *testing.T) {
	h := start(t)
	a := h.register("eu", "10.0.0.1:7443")
	b := h.register("eu", "10.0.0.2:7443")
	us := h.register("us", "10.0.0.3:7443")
	d := h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 2})
	h.eventually("placement", func() bool {
		return len(a.runningOf(d.ID)) == 1 && len(b.runningOf(d.ID)) == 1 && len(us.runningOf(d.ID)) == 2
	})
	stale := b.runningOf(d.ID)[0].ID
	for _, n := range []*fakeNode{a, b, us} {
		n.healthyAll()
	}
	h.eventually("ready", func() bool { return h.deployment(d.ID).Live })

	b.silence()
	a.heartbeat()
	us.heartbeat()
	h.eventually("b's instance to be placed again on a", func() bool { return len(a.runningOf(d.ID)) == 2 })
	if n := len(us.runningOf(d.ID)); n != 2 {
		t.Fatalf("region us has %d instances, want its own 2 (a down node is replaced in its region)", n)
	}

	// b comes back, still running its old VM, and says so.
	b.heartbeat()
	b.report(stale, api.InstanceHealthy, "")
	if got := b.runningOf(d.ID); len(got) != 0 {
		t.Fatalf("the returning node is told to run %d instances that moved away", len(got))
	}
	a.healthyAll()
	h.eventually("the routes to hold exactly the planned copies", func() bool {
		be := h.backends("web.apps.test")
		return len(be) == 4 && !be[stale]
	})
	live := 0
	for _, in := range h.deployment(d.ID).Instances {
		if in.Desired == "running" {
			live++
		}
	}
	if live != 4 {
		t.Fatalf("%d instances wanted running, want 4", live)
	}
}

// TestDrainReplacesBeforeStopping: a drained node's instance keeps serving
// until its replacement is healthy, then leaves the route table, and only
// after the drain period is it stopped.
func TestDrainReplacesBeforeStopping(t *testing.T) {
	h := start(t, func(c *operator.Config) { c.Drain = 3 * time.Second })
	a := h.register("eu", "10.0.0.1:7443")
	b := h.register("eu", "10.0.0.2:7443")
	d := h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1})
	var old, other *fakeNode
	h.eventually("placement", func() bool { return len(a.runningOf(d.ID))+len(b.runningOf(d.ID)) == 1 })
	old, other = a, b
	if len(b.runningOf(d.ID)) == 1 {
		old, other = b, a
	}
	oldID := old.runningOf(d.ID)[0].ID
	old.healthyAll()
	h.eventually("ready", func() bool { return h.deployment(d.ID).Live })

	var drained api.Node
	if code := h.call("POST", "/v1/nodes/"+old.id+"/drain", h.token, nil, &drained); code != 200 || !drained.Drained {
		t.Fatalf("drain: %d %+v", code, drained)
	}
	h.eventually("a replacement on the other node", func() bool { return len(other.runningOf(d.ID)) == 1 })
	// Until the replacement is healthy the old instance runs and serves.
	if len(old.runningOf(d.ID)) != 1 || !h.backends("web.apps.test")[oldID] {
		t.Fatal("the drained node's instance stopped serving before its replacement was healthy")
	}
	other.healthyAll()
	h.eventually("the old instance to leave the route table", func() bool {
		be := h.backends("web.apps.test")
		return !be[oldID] && len(be) == 1
	})
	if len(old.runningOf(d.ID)) != 1 {
		t.Fatal("the old instance was stopped as it left the route table, before edges could see it leave")
	}
	h.eventually("the old instance to be stopped", func() bool { return len(old.runningOf(d.ID)) == 0 })

	// A new deployment places nothing on the drained node.
	d2 := h.deploy(api.CreateProjectRequest{Name: "api", MinInstancesPerRegion: 2})
	h.eventually("placement of the second project", func() bool { return len(other.runningOf(d2.ID)) == 2 })
	if n := len(old.runningOf(d2.ID)); n != 0 {
		t.Fatalf("a drained node got %d new instances", n)
	}
	var nodes []api.Node
	if code := h.call("GET", "/v1/nodes", h.token, nil, &nodes); code != 200 || len(nodes) != 2 {
		t.Fatalf("list nodes: %d %+v", code, nodes)
	}
	var undrained api.Node
	if code := h.call("POST", "/v1/nodes/"+old.id[:8]+"/undrain", h.token, nil, &undrained); code != 200 || undrained.Drained || undrained.ID != old.id {
		t.Fatalf("undrain by ID prefix: %d %+v", code, undrained)
	}
	var e api.Error
	if code := h.call("POST", "/v1/nodes/nope/drain", h.token, nil, &e); code != 404 || e.Hint == "" {
		t.Fatalf("drain of an unknown node: %d %+v", code, e)
	}
}

// TestUnderServedRegions: a region short of capacity, or without nodes,
// is reported in the status with the reason; the deployment still goes
// live with what the regions can hold.
func TestUnderServedRegions(t *testing.T) {
	h := start(t)
	n := h.registerSized("eu", "10.0.0.1:7443", 2, 512)
	d := h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 3, MemoryMiB: 256})
	h.eventually("placement", func() bool { return len(n.runningOf(d.ID)) == 2 })
	n.healthyAll()
	h.eventually("ready with what fits", func() bool { return h.deployment(d.ID).Live })

	var p api.Project
	if code := h.call("PATCH", "/v1/projects/web", h.token, map[string]any{"regions": []string{"eu", "ap", "eu"}}, &p); code != 200 ||
		strings.Join(p.Regions, ",") != "ap,eu" {
		t.Fatalf("update regions: %d %+v", code, p)
	}
	var st api.Status
	h.call("GET", "/v1/status", h.token, nil, &st)
	msgs := map[string]string{}
	for _, u := range st.UnderServed {
		msgs[u.Region] = u.Message
	}
	if want := "region eu: 2 of 3 instances: not enough capacity (needs 256 MiB and 1 vCPU, largest free 0 MiB"; !strings.HasPrefix(msgs["eu"], want) {
		t.Errorf("eu: %q, want it to start %q", msgs["eu"], want)
	}
	if want := "region ap: 0 of 3 instances: no node in this region"; msgs["ap"] != want {
		t.Errorf("ap: %q, want %q", msgs["ap"], want)
	}

	var nodes []api.Node
	h.call("GET", "/v1/nodes", h.token, nil, &nodes)
	if len(nodes) != 1 || nodes[0].Used == nil || nodes[0].Used.MemoryMiB != 512 || nodes[0].Capacity.MemoryMiB != 512 || nodes[0].Instances != 2 {
		t.Errorf("node list: %+v", nodes)
	}
	other, err := operator.Bootstrap(context.Background(), h.store, "other-org", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}
	if code := h.call("GET", "/v1/nodes", other, nil, nil); code != 403 {
		t.Errorf("a user who does not administer the installation listed the nodes: %d", code)
	}
	var e api.Error
	if code := h.call("PATCH", "/v1/projects/web", h.token, map[string]any{"regions": []string{"EU West"}}, &e); code != 400 || e.Hint == "" {
		t.Errorf("invalid region accepted: %d %+v", code, e)
	}
	var all api.Project
	if code := h.call("PATCH", "/v1/projects/web", h.token, map[string]any{"regions": []string{"all"}}, &all); code != 200 || all.Name != "web" || len(all.Regions) != 0 {
		t.Errorf("regions all: %d %+v", code, all)
	}
}

// TestOperatorRestartLosesNothing: placements, a drain in progress and a
// retiring instance are all in the database, so a new operator on it
// carries on where the old one stopped, placing nothing twice.
func TestOperatorRestartLosesNothing(t *testing.T) {
	dbURL := storetest.URL(t)
	// A drain period longer than the test keeps the old instance retiring.
	tweak := func(c *operator.Config) { c.NodeGrace = time.Hour; c.Drain = time.Hour }
	var a, b fakeNode
	var dep, oldID string
	before := map[string]string{}
	t.Run("first operator", func(t *testing.T) {
		srv := operatortest.StartOn(t, dbURL, tweak)
		h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, grace: time.Hour, srv: srv}
		na, nb := h.register("eu", "10.0.0.1:7443"), h.register("eu", "10.0.0.2:7443")
		dep = h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1}).ID
		h.eventually("placement", func() bool { return len(na.runningOf(dep))+len(nb.runningOf(dep)) == 1 })
		if len(nb.runningOf(dep)) == 1 {
			na, nb = nb, na
		}
		oldID = na.runningOf(dep)[0].ID
		na.healthyAll()
		h.eventually("ready", func() bool { return h.deployment(dep).Live })
		h.call("POST", "/v1/nodes/"+na.id+"/drain", h.token, nil, nil)
		h.eventually("replacement", func() bool { return len(nb.runningOf(dep)) == 1 })
		nb.healthyAll()
		h.eventually("the old instance to retire", func() bool { return !h.backends("web.apps.test")[oldID] })
		for _, in := range h.deployment(dep).Instances {
			before[in.ID] = in.Node + " " + in.Desired
		}
		a, b = *na, *nb
	})
	srv := operatortest.StartOn(t, dbURL, tweak)
	h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, grace: time.Hour, srv: srv}
	a.h, b.h = h, h
	// A second project placed proves the new operator has reconciled.
	d2 := h.deploy(api.CreateProjectRequest{Name: "api", MinInstancesPerRegion: 1})
	h.eventually("the new operator to reconcile", func() bool { return len(b.runningOf(d2.ID)) == 1 })
	if n := len(a.runningOf(d2.ID)); n != 0 {
		t.Fatalf("the drain was forgotten: the drained node got %d instances", n)
	}
	after := map[string]string{}
	for _, in := range h.deployment(dep).Instances {
		after[in.ID] = in.Node + " " + in.Desired
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("instances changed across the restart:\nbefore %v\nafter  %v", before, after)
	}
	if h.backends("web.apps.test")[oldID] || len(a.runningOf(dep)) != 1 {
		t.Fatal("the retiring instance is routed again, or was stopped before its drain period")
	}
}

// TestRouteBackendsNameRegionAndNode: each backend in the edges' route
// table names its instance's region and node, for the edges' region
// preference and node suspicion.
func TestRouteBackendsNameRegionAndNode(t *testing.T) {
	h := start(t)
	eu := h.register("eu", "10.0.0.1:7443")
	us := h.register("us", "10.0.0.3:7443")
	d := h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1})
	h.eventually("placement", func() bool { return len(eu.runningOf(d.ID)) == 1 && len(us.runningOf(d.ID)) == 1 })
	eu.healthyAll()
	us.healthyAll()
	h.eventually("ready", func() bool { return h.deployment(d.ID).Live })
	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	var routes api.RouteTable
	h.call("GET", "/v1/edge/routes", edgeToken, nil, &routes)
	want := map[string]api.Backend{
		"10.0.0.1:7443": {NodeAddr: "10.0.0.1:7443", Region: "eu", Node: eu.id},
		"10.0.0.3:7443": {NodeAddr: "10.0.0.3:7443", Region: "us", Node: us.id},
	}
	got := 0
	for _, r := range routes.Routes {
		if r.Host != "web.apps.test" {
			continue
		}
		for _, b := range r.Backends {
			w := want[b.NodeAddr]
			w.Instance = b.Instance
			if b != w {
				t.Errorf("backend %+v, want %+v", b, w)
			}
			got++
		}
	}
	if got != 2 {
		t.Fatalf("%d backends for web.apps.test, want 2: %+v", got, routes)
	}
}
