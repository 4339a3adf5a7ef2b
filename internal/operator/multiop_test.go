package operator_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// roundRobin is one address in front of several operator replicas, as a
// load balancer would be: each request goes to the next replica in turn
// (stricter than alternating per connection, which keep-alive would
// blur). It counts the requests it forwards by path.
type roundRobin struct {
	srv     *httptest.Server
	mu      sync.Mutex
	targets []*url.URL
	next    int
	counts  map[string]int
}

func newRoundRobin(t *testing.T) *roundRobin {
	rr := &roundRobin{counts: map[string]int{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(rr.pick(r.In.URL.Path))
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		// Polls cut short when the test ends are no news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	rr.srv = httptest.NewServer(proxy)
	t.Cleanup(rr.srv.Close)
	return rr
}

func (rr *roundRobin) host() string { return strings.TrimPrefix(rr.srv.URL, "http://") }

func (rr *roundRobin) setTargets(urls ...string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for _, u := range urls {
		p, _ := url.Parse(u)
		rr.targets = append(rr.targets, p)
	}
}

func (rr *roundRobin) pick(path string) *url.URL {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.counts[path]++
	u := rr.targets[rr.next%len(rr.targets)]
	rr.next++
	return u
}

// served is how many requests went to paths for which match is true.
func (rr *roundRobin) served(match func(path string) bool) int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	n := 0
	for p, c := range rr.counts {
		if match(p) {
			n += c
		}
	}
	return n
}

// TestTwoOperatorsBehindOneAddress: two replicas on one database behind one
// address, used by the CLI (the harness), fake nodes, a real edge route
// watcher and the registry clients, all through that address. Replicas
// hand out one change feed's versions, so long polls wait wherever they
// land; the reconciler places each deployment once; each replica accepts
// the other's registry credential, so that images resolve whichever
// replica reconciles.
func TestTwoOperatorsBehindOneAddress(t *testing.T) {
	dbURL := storetest.URL(t)
	front, registry := newRoundRobin(t), newRoundRobin(t)
	tweak := func(c *operator.Config) {
		c.NodeGrace = time.Hour // the fake nodes heartbeat only when told
		// The registry is reached through the one address too. Its storage
		// is per replica here, so the test pushes each image to both.
		c.RegistryHost = registry.host()
	}
	a := operatortest.StartOn(t, dbURL, tweak)
	b := operatortest.StartOn(t, dbURL, tweak)
	front.setTargets(a.URL, b.URL)
	registry.setTargets(a.URL, b.URL)
	h := &harness{t: t, url: front.srv.URL, store: a.Store, token: a.Token, grace: time.Hour, srv: a}

	n1, n2 := h.register("eu", "10.0.0.1:7443"), h.register("eu", "10.0.0.2:7443")
	var deps []api.Deployment
	for _, project := range []string{"web", "api", "docs"} {
		if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: project}, nil); code != 201 {
			t.Fatalf("create project %s: %d", project, code)
		}
		ref := pushToEach(t, registry.host(), project, a, b)
		var d api.Deployment
		if code := h.call("POST", "/v1/projects/"+project+"/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
			t.Fatalf("deploy %s: %d", project, code)
		}
		deps = append(deps, d)
	}

	// Each deployment is placed once and its image resolved.
	{
		h.eventually("placement", func() bool {
			return len(running(n1.desired()))+len(running(n2.desired())) == 3*len(deps)
		})
		for _, n := range []*fakeNode{n1, n2} {
			for _, in := range running(n.desired()) {
				n.report(in.ID, api.InstanceHealthy, "")
			}
		}
		for _, d := range deps {
			h.eventually("deployment "+d.ID+" ready", func() bool { return h.deployment(d.ID).Status == api.StatusReady })
		}
		// Both replicas keep reconciling; the plan must not grow.
		for range 10 {
			h.checkInstancesPerDeployment(3)
			time.Sleep(100 * time.Millisecond) // reconcile passes run every 200 ms
		}
	}

	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	tables := watchRoutes(t, front.srv.URL, edgeToken)

	// An edge sees changes made through either replica.
	{
		waitTable(t, tables, "routes of all three projects", func(rt api.RouteTable) bool {
			return backends(rt, "web.apps.test") == 3 && backends(rt, "api.apps.test") == 3 && backends(rt, "docs.apps.test") == 3
		})
		// A node reports to one replica, then to the other: whichever holds
		// the edge's poll, each change reaches the edge.
		for i, srv := range []*operatortest.Server{a, b} {
			project := []string{"web", "api"}[i]
			n, in := instanceOn(t, []*fakeNode{n1, n2}, deps[i].ID)
			direct := &fakeNode{h: &harness{t: t, url: srv.URL, store: h.store, token: h.token}, id: n.id, token: n.token}
			if code := direct.report(in.ID, api.InstanceFailed, "app exited with code 1"); code != http.StatusNoContent {
				t.Fatalf("report to replica %d: %d", i, code)
			}
			waitTable(t, tables, project+" without the failed instance", func(rt api.RouteTable) bool {
				for _, r := range rt.Routes {
					if r.Host == project+".apps.test" {
						for _, be := range r.Backends {
							if be.Instance == in.ID {
								return false
							}
						}
						return true
					}
				}
				return false
			})
		}
	}

	// Long polls do not spin.
	{
		// Replaced instances start and report healthy: let it settle.
		for _, n := range []*fakeNode{n1, n2} {
			go pollDesired(t, front.srv.URL, n)
		}
		h.eventually("replacements placed", func() bool {
			return len(running(n1.desired()))+len(running(n2.desired())) == 3*len(deps)
		})
		for _, n := range []*fakeNode{n1, n2} {
			for _, in := range running(n.desired()) {
				n.report(in.ID, api.InstanceHealthy, "")
			}
		}
		polls := func(p string) bool {
			return p == "/v1/edge/routes" || strings.HasSuffix(p, "/desired")
		}
		quiet := func() (requests int, moved int64) {
			v0 := changeVersion(t, h)
			before := front.served(polls)
			time.Sleep(2 * time.Second) // the interval requests are counted over
			return front.served(polls) - before, changeVersion(t, h) - v0
		}
		requests, moved := quiet()
		if moved > 0 { // the replacements' health reports; count again
			requests, moved = quiet()
		}
		// Three pollers (an edge, two nodes) may each ask once per change
		// and once more; a spinning poll asks thousands of times.
		if limit := int(3 * (2 + 2*moved)); requests > limit {
			t.Fatalf("%d long-poll requests in 2 s with %d changes: polls spin (want at most %d)", requests, moved, limit)
		}
	}
}

// checkInstancesPerDeployment fails unless every active deployment has
// exactly want instances that should run.
func (h *harness) checkInstancesPerDeployment(want int) {
	h.t.Helper()
	rows, err := h.store.Pool.Query(context.Background(), `
		SELECT d.id::text, count(i.id) FROM deployments d
		LEFT JOIN instances i ON i.deployment_id = d.id AND i.desired = 'running'
		WHERE d.status = 'ready' GROUP BY d.id`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			h.t.Fatal(err)
		}
		if n != want {
			h.t.Fatalf("deployment %s has %d instances to run, want %d", id, n, want)
		}
	}
}

// pushToEach pushes one image to each replica's own registry storage and
// returns its reference under the shared registry address.
func pushToEach(t *testing.T, shared, repo string, replicas ...*operatortest.Server) string {
	t.Helper()
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte("#!/bin/true\n")}},
		image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		t.Fatal(err)
	}
	var digest string
	for _, r := range replicas {
		ref, _ := name.ParseReference(strings.TrimPrefix(r.URL, "http://")+"/"+repo+":v1", name.Insecure)
		if digest, err = image.PushImage(context.Background(), img, ref, &authn.Basic{Username: "u", Password: r.Token}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return shared + "/" + repo + "@" + digest
}

// watchRoutes runs the edge's own route watcher against url until the test
// ends and passes on every table it takes.
func watchRoutes(t *testing.T, url, token string) <-chan api.RouteTable {
	ctx, cancel := context.WithCancel(context.Background())
	tables := make(chan api.RouteTable, 100)
	src := edge.NewOperatorSource(url, token, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Watch(ctx, func(rt api.RouteTable) {
			select {
			case tables <- rt:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return tables
}

// waitTable waits for a table that satisfies ok. The edge is told of each
// change by a long poll that the change wakes, so this takes moments; the
// deadline is well under the 25 s a poll that no change wakes is held.
func waitTable(t *testing.T, tables <-chan api.RouteTable, what string, ok func(api.RouteTable) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case rt := <-tables:
			if ok(rt) {
				return
			}
		case <-deadline:
			t.Fatalf("the edge did not get %s", what)
		}
	}
}

func backends(rt api.RouteTable, host string) int {
	for _, r := range rt.Routes {
		if r.Host == host {
			return len(r.Backends)
		}
	}
	return 0
}

// instanceOn returns one of the deployment's instances and its node.
func instanceOn(t *testing.T, nodes []*fakeNode, deployment string) (*fakeNode, api.DesiredInstance) {
	t.Helper()
	for _, n := range nodes {
		if ins := instancesOf(n.desired(), deployment); len(ins) > 0 {
			return n, ins[0]
		}
	}
	t.Fatalf("no instance of deployment %s", deployment)
	return nil, api.DesiredInstance{}
}

// pollDesired long-polls the node's desired state through url until the
// test ends, as a node agent does.
func pollDesired(t *testing.T, url string, n *fakeNode) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var version int64
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/v1/nodes/"+n.id+"/desired?after="+strconv.FormatInt(version, 10), nil)
		req.Header.Set("Authorization", "Bearer "+n.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		var ds api.DesiredState
		json.NewDecoder(resp.Body).Decode(&ds)
		resp.Body.Close()
		version = ds.Version
	}
}

// changeVersion reads the database's change feed.
func changeVersion(t *testing.T, h *harness) int64 {
	t.Helper()
	var v int64
	if err := h.store.Pool.QueryRow(context.Background(), "SELECT version FROM change_feed").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBuildPushesThroughAnotherReplica: the builder of one replica pushes
// to the registry address, which another replica answers; that replica
// accepts the build's push token, kept as a hash in the database.
func TestBuildPushesThroughAnotherReplica(t *testing.T) {
	dbURL := storetest.URL(t)
	b := operatortest.StartOn(t, dbURL) // runs no builds: serves the registry
	fake := &operatortest.Builder{}
	a := operatortest.StartOn(t, dbURL, withBuilder(fake), func(c *operator.Config) {
		c.RegistryHost = strings.TrimPrefix(b.URL, "http://")
	})
	h := &harness{t: t, url: a.URL, store: a.Store, token: a.Token, srv: a}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	code, bd, e := upload(t, a.URL, a.Token, "web", "", contextArchive(t, dockerfile))
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %+v", code, e)
	}
	if got := waitBuild(t, a.URL, a.Token, bd.ID, api.BuildDone, api.BuildFailed); got.Status != api.BuildDone {
		t.Fatalf("build pushed through the other replica: %s (%s)", got.Status, got.Reason)
	}
	// The token ends with the build: nobody pushes with it afterwards.
	tok := fake.Requests()[0].PushPassword
	req, _ := http.NewRequest("GET", b.URL+"/v2/", nil)
	req.SetBasicAuth("zeitwork", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a finished build's push token: %d, want 401", resp.StatusCode)
	}
}

// TestLongPollSurvivesLostNotifications: a change committed while the
// replica's LISTEN connection is down still ends a poll that waits for it,
// because the replica reads the version again when it listens again.
func TestLongPollSurvivesLostNotifications(t *testing.T) {
	srv := operatortest.Start(t)
	h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, srv: srv}
	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	var rt api.RouteTable
	h.call("GET", "/v1/edge/routes", edgeToken, nil, &rt)
	polled := make(chan api.RouteTable, 1)
	go func() {
		var next api.RouteTable
		req, _ := http.NewRequest("GET", srv.URL+"/v1/edge/routes?after="+strconv.FormatInt(rt.Version, 10), nil)
		req.Header.Set("Authorization", "Bearer "+edgeToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			json.NewDecoder(resp.Body).Decode(&next)
			resp.Body.Close()
		}
		polled <- next
	}()
	// The poll waits: nothing changed.
	select {
	case got := <-polled:
		t.Fatalf("a poll at the current version answered at once: %d after %d", got.Version, rt.Version)
	case <-time.After(300 * time.Millisecond):
	}
	// Cut the LISTEN connection (the only one that reads the version) and
	// change something before it is back (it waits 100 ms first).
	var cut int
	err = h.store.Pool.QueryRow(context.Background(), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE '%FROM change_feed%' AND pid <> pg_backend_pid()`).Scan(&cut)
	if err != nil || cut != 1 {
		t.Fatalf("cut the listen connection: %d cut, %v", cut, err)
	}
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	select {
	case got := <-polled:
		if got.Version <= rt.Version {
			t.Fatalf("poll answered version %d after %d", got.Version, rt.Version)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a change made while notifications were lost did not end the poll")
	}
}

// TestTwoOperatorsPostEachGitHubStatusOnce: replicas woken by the same
// change do not both post the commit's statuses.
func TestTwoOperatorsPostEachGitHubStatusOnce(t *testing.T) {
	f := startGitHub(t)
	operatortest.StartOn(t, f.store.Pool.Config().ConnString(), func(c *operator.Config) {
		c.AdminToken, c.NodeGrace = adminToken, f.grace
		c.RegistryHost = strings.TrimPrefix(f.url, "http://") // the replicas' one registry address
	})
	n := f.register("eu", "10.0.0.1:7443")
	if code, out := f.deliver("push", "d-1", f.pushEvent("acme/web", "main", f.head), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	bid := f.builds()[0].ID
	f.goLive(n, bid)
	f.eventually("success status", func() bool {
		st := f.statusesOf(f.head)
		return len(st) > 0 && st[len(st)-1].State == "success"
	})
	seen := map[string]int{}
	for _, s := range f.statusesOf(f.head) {
		if seen[s.State]++; seen[s.State] > 1 {
			t.Fatalf("status %s posted twice: %+v", s.State, f.statusesOf(f.head))
		}
	}
}
