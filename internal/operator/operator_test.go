package operator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// harness runs a real operator on a real database; the test plays the
// CLI, the node agents and the edge through the HTTP API.
type harness struct {
	t     *testing.T
	url   string
	store *store.Store
	token string
	// metrics is the registry the operator registers into.
	metrics *prometheus.Registry
	// grace is the operator's node grace.
	grace time.Duration
	srv   *operatortest.Server
	// joinTokens are the join tokens register spent.
	joinTokens []string
}

// start runs the operator with a node grace far longer than any test: the
// fake nodes heartbeat only when a test says so, and a node goes down only
// when a test ages its last heartbeat (silence), however slow the machine.
func start(t *testing.T, tweaks ...func(*operator.Config)) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	const grace = time.Hour
	srv := operatortest.Start(t, append([]func(*operator.Config){func(c *operator.Config) { c.Metrics = reg; c.NodeGrace = grace }}, tweaks...)...)
	return &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, metrics: reg, grace: grace, srv: srv}
}

func (h *harness) call(method, path, token string, body, out any) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// pushImage builds a tiny image and pushes it into the operator's registry.
func (h *harness) pushImage(repo string, cfg image.ImageConfig) string {
	h.t.Helper()
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte("#!/bin/true\n")}}, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(h.url, "http://")+"/"+repo+":v1", name.Insecure)
	digest, err := image.PushImage(context.Background(), img, ref, &authn.Basic{Username: "u", Password: h.token}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return ref.Context().Digest(digest).String()
}

type fakeNode struct {
	h     *harness
	id    string
	token string
}

func (h *harness) register(region, addr string) *fakeNode {
	h.t.Helper()
	join := h.srv.JoinToken(h.t, "node")
	h.joinTokens = append(h.joinTokens, join)
	var resp api.RegisterNodeResponse
	code := h.call("POST", "/v1/nodes/register", join, api.RegisterNodeRequest{
		Region: region, Hostname: addr, TunnelAddr: addr, Driver: "fake", Accel: "tcg", CSR: testCSR(h.t),
	}, &resp)
	if code != 200 || resp.Certificate == "" || resp.CA == "" {
		h.t.Fatalf("register: %d %+v", code, resp)
	}
	return &fakeNode{h: h, id: resp.NodeID, token: resp.NodeToken}
}

// testCSR is a certificate request for a fresh key, as a host makes.
func testCSR(t testing.TB) string {
	t.Helper()
	key, err := pki.LoadOrCreateKey(filepath.Join(t.TempDir(), "host.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(csr)
}

func (n *fakeNode) desired() []api.DesiredInstance {
	var ds api.DesiredState
	if code := n.h.call("GET", "/v1/nodes/"+n.id+"/desired", n.token, nil, &ds); code != 200 {
		n.h.t.Fatalf("desired: %d", code)
	}
	return ds.Instances
}

func (n *fakeNode) report(instance, state, reason string) int {
	return n.h.call("POST", "/v1/nodes/"+n.id+"/instances/"+instance, n.token, api.InstanceReport{State: state, Reason: reason}, nil)
}

func (n *fakeNode) heartbeat() {
	if code := n.h.call("POST", "/v1/nodes/"+n.id+"/heartbeat", n.token, nil, nil); code != http.StatusNoContent {
		n.h.t.Fatalf("heartbeat: %d", code)
	}
}

// silence makes the node's last heartbeat older than the operator's grace,
// as if it had stopped heartbeating that long ago.
func (n *fakeNode) silence() {
	_, err := n.h.store.Pool.Exec(context.Background(),
		"UPDATE nodes SET last_heartbeat_at = now() - make_interval(secs => $2) WHERE id = $1",
		n.id, 2*n.h.grace.Seconds())
	if err != nil {
		n.h.t.Fatal(err)
	}
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func (h *harness) deployment(id string) api.Deployment {
	var d api.Deployment
	h.call("GET", "/v1/deployments/"+id, h.token, nil, &d)
	return d
}

func running(ins []api.DesiredInstance) []api.DesiredInstance {
	var out []api.DesiredInstance
	for _, in := range ins {
		if in.Desired == "running" {
			out = append(out, in)
		}
	}
	return out
}

func TestDeployLifecycle(t *testing.T) {
	h := start(t)
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	a := h.register("eu", "10.0.0.1:7443")
	b := h.register("eu", "10.0.0.2:7443")
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})

	var d api.Deployment
	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		t.Fatalf("create deployment: %d", code)
	}
	// Three instances, spread 2+1 over the two nodes, with the pinned image.
	h.eventually("placement", func() bool { return len(running(a.desired()))+len(running(b.desired())) == 3 })
	na, nb := running(a.desired()), running(b.desired())
	if len(na) < 1 || len(nb) < 1 {
		t.Fatalf("not spread: %d and %d", len(na), len(nb))
	}
	if got := na[0]; got.Image != ref || got.Port != 8080 || got.Project != "web" {
		t.Fatalf("desired instance: %+v", got)
	}
	// A node may not act for another.
	if code := h.call("GET", "/v1/nodes/"+a.id+"/desired", b.token, nil, nil); code != 403 {
		t.Fatalf("node b read node a's state: %d", code)
	}
	if code := b.report(na[0].ID, api.InstanceHealthy, ""); code != 404 {
		t.Fatalf("node b reported node a's instance: %d", code)
	}

	for _, in := range na {
		a.report(in.ID, api.InstanceHealthy, "")
	}
	if h.deployment(d.ID).Status == api.StatusReady {
		t.Fatal("ready before every instance is healthy")
	}
	for _, in := range nb {
		b.report(in.ID, api.InstanceHealthy, "")
	}
	h.eventually("ready", func() bool { d = h.deployment(d.ID); return d.Status == api.StatusReady && d.Live })

	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	var routes api.RouteTable
	h.call("GET", "/v1/edge/routes", edgeToken, nil, &routes)
	hosts := map[string]int{}
	for _, r := range routes.Routes {
		hosts[r.Host] = len(r.Backends)
	}
	if hosts["web.apps.test"] != 3 || hosts[api.VersionedLabel("web", d.ID)+".apps.test"] != 3 {
		t.Fatalf("routes: %+v", routes)
	}
	if code := h.call("GET", "/v1/edge/routes", h.token, nil, nil); code != 403 {
		t.Fatalf("user token read routes: %d", code)
	}

	t.Run("failing deployment leaves the live one", func(t *testing.T) {
		var bad api.Deployment
		h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &bad)
		h.eventually("placement of the second deployment", func() bool { return len(running(a.desired()))+len(running(b.desired())) == 6 })
		for _, n := range []*fakeNode{a, b} {
			for _, in := range running(n.desired()) {
				if in.Deployment == bad.ID {
					n.report(in.ID, api.InstanceFailed, "app exited with code 1: boom")
				}
			}
		}
		h.eventually("failure", func() bool { bad = h.deployment(bad.ID); return bad.Status == api.StatusFailed })
		if !strings.Contains(bad.Reason, "boom") {
			t.Errorf("reason %q", bad.Reason)
		}
		if cur := h.deployment(d.ID); !cur.Live || cur.Status != api.StatusReady {
			t.Fatalf("live deployment harmed: %+v", cur)
		}
		h.eventually("failed instances to be stopped", func() bool {
			return len(running(a.desired()))+len(running(b.desired())) == 3
		})
	})

	t.Run("rollback redeploys an earlier image by digest", func(t *testing.T) {
		var e api.Error
		if code := h.call("POST", "/v1/projects/web/rollback", h.token, api.RollbackRequest{}, &e); code != 409 {
			t.Fatalf("rollback with no earlier ready deployment: %d %+v", code, e)
		}
		if code := h.call("POST", "/v1/projects/web/rollback", h.token, api.RollbackRequest{Deployment: "nope"}, &e); code != 404 {
			t.Fatalf("rollback to a missing deployment: %d", code)
		}
		var rb api.Deployment
		if code := h.call("POST", "/v1/projects/web/rollback", h.token, api.RollbackRequest{Deployment: d.ID}, &rb); code != 201 {
			t.Fatalf("rollback: %d", code)
		}
		if rb.Image != ref || rb.ID == d.ID || rb.Status != api.StatusDeploying {
			t.Fatalf("rollback deployment: %+v", rb)
		}
		h.call("DELETE", "/v1/deployments/"+rb.ID, h.token, nil, nil)
	})

	t.Run("a dead node's instances move", func(t *testing.T) {
		// b went silent longer ago than the grace; a just heartbeated.
		b.silence()
		a.heartbeat()
		h.eventually("rescheduling onto node a", func() bool {
			n := 0
			for _, in := range running(a.desired()) {
				if in.Deployment == d.ID {
					n++
				}
			}
			return n == 3
		})
		var st api.Status
		h.call("GET", "/v1/status", h.token, nil, &st)
		for _, n := range st.Nodes {
			if n.ID == b.id && n.State != "down" {
				t.Errorf("node b state %s", n.State)
			}
			if n.ID == a.id && n.State != "ready" {
				t.Errorf("node a state %s", n.State)
			}
		}
	})
}

func TestBadImagesFailBeforeBooting(t *testing.T) {
	// The registry that is down is on loopback, refused unless allowed.
	h := start(t, func(c *operator.Config) { c.AllowedRegistries = []string{"127.0.0.1:1"} })
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	h.register("eu", "10.0.0.1:7443")
	host := strings.TrimPrefix(h.url, "http://")
	for _, c := range []struct{ ref, want string }{
		{h.pushImage("web/noentry", image.ImageConfig{}), "no entrypoint or cmd"},
		{host + "/web:missing", "not found"},
		{"127.0.0.1:1/web:v1", "registry unreachable"}, // a registry that is down
	} {
		var d api.Deployment
		h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: c.ref}, &d)
		h.eventually("failure of "+c.ref, func() bool { d = h.deployment(d.ID); return d.Status == api.StatusFailed })
		if !strings.Contains(d.Reason, c.want) || len(d.Instances) != 0 {
			t.Errorf("%s: reason %q, %d instances", c.ref, d.Reason, len(d.Instances))
		}
	}
}

func TestRegistryKeepsTenantsApart(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	other, err := operator.Bootstrap(context.Background(), h.store, "other-org", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := name.ParseReference(ref, name.Insecure)
	if _, err := remote.Image(parsed, remote.WithAuth(&authn.Basic{Username: "eve", Password: other})); err == nil || !strings.Contains(err.Error(), "DENIED") {
		t.Fatalf("another organisation pulled web's image: %v", err)
	}
	if _, err := remote.Image(parsed, remote.WithAuth(&authn.Basic{Username: "dev", Password: h.token})); err != nil {
		t.Fatalf("owner cannot pull: %v", err)
	}
	// The referrers API names the repository too: another organisation
	// may not list what refers to web's images.
	for tok, want := range map[string]int{other: http.StatusForbidden, h.token: http.StatusOK} {
		req, _ := http.NewRequest("GET", h.url+"/v2/web/referrers/sha256:"+strings.Repeat("a", 64), nil)
		req.SetBasicAuth("user", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("referrers of web's repository: %d, want %d", resp.StatusCode, want)
		}
	}
	img, _ := image.FromFiles(map[string]image.File{"/x": {Mode: 0o644, Data: []byte("x")}}, image.ImageConfig{Cmd: []string{"/x"}})
	dst, _ := name.ParseReference(strings.TrimPrefix(h.url, "http://")+"/not-a-project:v1", name.Insecure)
	if _, err := image.PushImage(context.Background(), img, dst, &authn.Basic{Username: "dev", Password: h.token}, nil); err == nil {
		t.Fatal("push to a repository that names no project was accepted")
	}
}

func TestInputErrors(t *testing.T) {
	h := start(t)
	var e api.Error
	cases := []struct {
		method, path, token string
		body                any
		code                int
		says                string
	}{
		{"POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "Bad Name"}, 400, "invalid project name"},
		{"POST", "/v1/projects", h.token, map[string]any{"name": "ok", "colour": "red"}, 400, "unknown field"},
		{"POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "ok", Port: 70000}, 400, "invalid port"},
		{"POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "ok", HealthPath: "healthz"}, 400, "invalid health_path"},
		{"POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "ok", MemoryMiB: 8}, 400, "invalid memory_mib"},
		{"POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "ok", VCPUs: 100}, 400, "invalid vcpus"},
		{"GET", "/v1/projects", "zw_nope", nil, 401, "invalid API token"},
		{"GET", "/v1/projects/none", h.token, nil, 404, "not found"},
		{"POST", "/v1/projects/none/deployments", h.token, api.CreateDeploymentRequest{Image: "x"}, 404, "not found"},
		{"POST", "/v1/nodes/register", "wrong", api.RegisterNodeRequest{}, 401, "join token"},
		{"PUT", "/v1/projects/none/env/X", h.token, api.EnvVar{Value: "1"}, 404, "not found"},
	}
	for _, c := range cases {
		e = api.Error{}
		if code := h.call(c.method, c.path, c.token, c.body, &e); code != c.code || !strings.Contains(e.Error, c.says) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, code, e.Error, c.code, c.says)
		}
	}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, &e); code != 409 {
		t.Errorf("duplicate project: %d", code)
	}
	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: "UPPER/Case::bad"}, &e); code != 400 || e.Hint == "" {
		t.Errorf("bad image reference: %d %+v", code, e)
	}
	if code := h.call("PUT", "/v1/projects/web/env/PORT", h.token, api.EnvVar{Value: "1"}, &e); code != 400 {
		t.Errorf("reserved env var: %d", code)
	}
}
