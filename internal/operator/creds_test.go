package operator_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// pushAs pushes a tiny image as repo:v1 with a user's token.
func (h *harness) pushAs(token, repo string) string {
	h.t.Helper()
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte("#!/bin/true\n")}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		h.t.Fatal(err)
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(h.url, "http://")+"/"+repo+":v1", name.Insecure)
	digest, err := image.PushImage(context.Background(), img, ref, &authn.Basic{Username: "u", Password: token}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return ref.Context().Digest(digest).String()
}

// otherOrg makes a second organisation with a project of its own.
func (h *harness) otherOrg(project string) string {
	h.t.Helper()
	token, err := operator.Bootstrap(context.Background(), h.store, "globex", "eve@globex.test")
	if err != nil {
		h.t.Fatal(err)
	}
	if code := h.call("POST", "/v1/projects", token, api.CreateProjectRequest{Name: project}, nil); code != 201 {
		h.t.Fatalf("create project %s: %d", project, code)
	}
	return token
}

func pull(ref, token string) error {
	parsed, _ := name.ParseReference(ref, name.Insecure)
	_, err := remote.Image(parsed, remote.WithAuth(&authn.Basic{Username: "node", Password: token}))
	return err
}

// TestNodeTokenOpensOnlyItsOwnWork: a node's token reads its own desired
// state and env vars and pulls the images its instances run, nothing else.
func TestNodeTokenOpensOnlyItsOwnWork(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	h.call("PUT", "/v1/projects/web/env/SECRET", h.token, api.EnvVar{Value: "web-secret"}, nil)
	other := h.otherOrg("shop")
	shopRef := h.pushAs(other, "shop")
	webRef := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	a := h.register("eu", "10.0.0.1:7443")
	h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: webRef}, nil)
	h.eventually("placement", func() bool { return len(running(a.desired())) == 3 })
	// Registered after placement: runs nothing.
	idle := h.register("eu", "10.0.0.2:7443")
	ins := running(a.desired())
	if !strings.Contains(strings.Join(ins[0].Env, " "), "web-secret") {
		t.Fatalf("the node running web did not get its env: %+v", ins[0])
	}

	if err := pull(webRef, a.token); err != nil {
		t.Fatalf("node cannot pull the image its instances run: %v", err)
	}
	for _, c := range []struct{ who, ref, token string }{
		{"idle node pulls web", webRef, idle.token},
		{"node pulls another tenant's image", shopRef, a.token},
	} {
		if err := pull(c.ref, c.token); err == nil || !strings.Contains(err.Error(), "DENIED") {
			t.Errorf("%s: %v", c.who, err)
		}
	}
	if code := h.call("GET", "/v1/nodes/"+a.id+"/desired", idle.token, nil, nil); code != 403 {
		t.Errorf("idle node read the other node's desired state and env: %d", code)
	}
	for _, in := range idle.desired() {
		if len(in.Env) != 0 {
			t.Errorf("idle node got env of %s", in.ID)
		}
	}
	if code := idle.report(ins[0].ID, api.InstanceFailed, "forged"); code < 400 {
		t.Errorf("idle node reported the other node's instance: %d", code)
	}
	if code := h.call("POST", "/v1/nodes/"+a.id+"/instances/"+ins[0].ID, idle.token, api.InstanceReport{State: api.InstanceFailed}, nil); code != 403 {
		t.Errorf("idle node reported as the other node: %d", code)
	}
	if d := h.deployment(running(a.desired())[0].Deployment); strings.Contains(describeInstances(d), "forged") {
		t.Errorf("forged report recorded: %+v", d.Instances)
	}
	// Nodes never push.
	img, _ := image.FromFiles(map[string]image.File{"/x": {Mode: 0o644, Data: []byte("x")}}, image.ImageConfig{Cmd: []string{"/x"}})
	dst, _ := name.ParseReference(strings.TrimPrefix(h.url, "http://")+"/web:evil", name.Insecure)
	if _, err := image.PushImage(context.Background(), img, dst, &authn.Basic{Username: "n", Password: a.token}, nil); err == nil {
		t.Error("a node pushed an image")
	}
}

func describeInstances(d api.Deployment) string {
	var b strings.Builder
	for _, in := range d.Instances {
		b.WriteString(in.State + ":" + in.Reason + " ")
	}
	return b.String()
}

// TestNodeReRegistration: a join token cannot take over a registered
// node; its own token can, once, and the old tokens die.
func TestNodeReRegistration(t *testing.T) {
	h := start(t)
	a := h.register("eu", "10.0.0.1:7443")
	id := uuid.MustParse(a.id)
	takeover := func(token string) int {
		var e api.Error
		code := h.call("POST", "/v1/nodes/register", h.srv.JoinToken(t, "node"), api.RegisterNodeRequest{
			NodeID: a.id, NodeToken: token, Region: "eu", Hostname: "evil", TunnelAddr: "10.6.6.6:7443", Driver: "fake", CSR: testCSR(t),
		}, &e)
		if code == 403 && e.Hint == "" {
			t.Errorf("refusal without a hint: %+v", e)
		}
		return code
	}
	b := h.register("eu", "10.0.0.2:7443")
	for _, tok := range []string{"", "zw_bogus", b.token} {
		if code := takeover(tok); code != 403 {
			t.Fatalf("re-registration with token %q: %d", tok, code)
		}
	}
	if n, _ := h.store.GetNode(context.Background(), id); n.TunnelAddr != "10.0.0.1:7443" {
		t.Fatalf("tunnel address taken over: %s", n.TunnelAddr)
	}

	var resp api.RegisterNodeResponse
	if code := h.call("POST", "/v1/nodes/register", a.token, api.RegisterNodeRequest{
		NodeID: a.id, NodeToken: a.token, Region: "eu", Hostname: "a", TunnelAddr: "10.0.0.9:7443", Driver: "fake", CSR: testCSR(t),
	}, &resp); code != 200 || resp.NodeID != a.id || resp.NodeToken == a.token {
		t.Fatalf("re-registration with the node's token: %d %+v", code, resp)
	}
	if code := h.call("POST", "/v1/nodes/"+a.id+"/heartbeat", a.token, nil, nil); code != 401 {
		t.Errorf("old token still works: %d", code)
	}
	if code := h.call("POST", "/v1/nodes/"+a.id+"/heartbeat", resp.NodeToken, nil, nil); code != 204 {
		t.Errorf("new token refused: %d", code)
	}
	if code := takeover(a.token); code != 403 {
		t.Errorf("revoked token re-registered: %d", code)
	}
}

// TestOrganisationsCannotDeployEachOthersImages: the API refuses a
// deployment of another organisation's repository, and the resolver
// refuses it even if one got into the database.
func TestOrganisationsCannotDeployEachOthersImages(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	webRef := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	other := h.otherOrg("shop")
	h.register("eu", "10.0.0.1:7443")

	var e api.Error
	if code := h.call("POST", "/v1/projects/shop/deployments", other, api.CreateDeploymentRequest{Image: webRef}, &e); code != 403 || e.Hint == "" {
		t.Fatalf("another organisation deployed web's image: %d %+v", code, e)
	}

	ctx := context.Background()
	shop, err := h.store.GetProjectByName(ctx, db.GetProjectByNameParams{OrganisationID: orgOf(t, h, "shop"), Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.store.CreateDeployment(ctx, db.CreateDeploymentParams{ID: uuid.New(), Slug: "sneaky01", ProjectID: shop.ID, ImageRef: webRef})
	if err != nil {
		t.Fatal(err)
	}
	h.eventually("the resolver to fail it", func() bool {
		got, _ := h.store.GetDeployment(ctx, d.ID)
		d = got
		return got.Status == api.StatusFailed
	})
	if !strings.Contains(d.StatusReason, "does not belong") || d.ImageID.Valid {
		t.Fatalf("reason %q, image pinned %v", d.StatusReason, d.ImageID.Valid)
	}
}

func orgOf(t *testing.T, h *harness, project string) uuid.UUID {
	t.Helper()
	ps, err := h.store.ListAllProjects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name == project {
			return p.OrganisationID
		}
	}
	t.Fatalf("no project %s", project)
	return uuid.Nil
}

// countingRegistry records whether anything reached it.
type countingRegistry struct {
	*httptest.Server
	mu   sync.Mutex
	hits int
}

func newCountingRegistry(t *testing.T, body string) *countingRegistry {
	c := &countingRegistry{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits++
		c.mu.Unlock()
		http.Error(w, body, http.StatusInternalServerError)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *countingRegistry) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

// TestImagesFromInternalAddressesAreRefused: the operator fetches nothing
// from loopback, private or link-local registries it was not told to
// allow, and never shows users what a registry answered.
func TestImagesFromInternalAddressesAreRefused(t *testing.T) {
	internal := newCountingRegistry(t, "internal-secret-body")
	allowed := newCountingRegistry(t, "allowed-secret-body")
	allowedHost := strings.TrimPrefix(allowed.URL, "http://")
	h := start(t, func(c *operator.Config) { c.AllowedRegistries = []string{allowedHost} })
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	h.register("eu", "10.0.0.1:7443")
	_, port, _ := strings.Cut(strings.TrimPrefix(internal.URL, "http://"), ":")

	for _, host := range []string{"127.0.0.1:" + port, "10.1.2.3:5000", "169.254.169.254", "[::1]:" + port, "100.64.0.1:5000"} {
		var e api.Error
		if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: host + "/web:v1"}, &e); code != 400 || e.Hint == "" {
			t.Errorf("deploy from %s: %d %+v", host, code, e)
		}
	}
	// A name that resolves to loopback passes the API and is refused
	// when the resolver dials.
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: "localhost:" + port + "/web:v1"}, &d); code != 201 {
		t.Fatalf("deploy from localhost: %d", code)
	}
	h.eventually("refusal of localhost", func() bool { d = h.deployment(d.ID); return d.Status == api.StatusFailed })
	if !strings.Contains(d.Reason, "not allowed") {
		t.Errorf("reason %q", d.Reason)
	}
	if n := internal.count(); n != 0 {
		t.Errorf("the internal registry got %d requests", n)
	}

	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: allowedHost + "/web:v1"}, &d); code != 201 {
		t.Fatalf("deploy from the allowed registry: %d", code)
	}
	h.eventually("failure from the allowed registry", func() bool { d = h.deployment(d.ID); return d.Status == api.StatusFailed })
	if allowed.count() == 0 || strings.Contains(d.Reason, "secret") || !strings.Contains(d.Reason, "500") {
		t.Errorf("allowed registry: %d requests, reason %q", allowed.count(), d.Reason)
	}
}

// TestStoppedInstancesGetNoEnv: the desired state carries a project's
// decrypted env vars only for instances the node must run; one it must
// stop is listed without them.
func TestStoppedInstancesGetNoEnv(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	h.call("PUT", "/v1/projects/web/env/SECRET", h.token, api.EnvVar{Value: "web-secret"}, nil)
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	a := h.register("eu", "10.0.0.1:7443")
	var d api.Deployment
	h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d)
	h.eventually("placement", func() bool { return len(running(a.desired())) == 3 })
	for _, in := range running(a.desired()) {
		if !strings.Contains(strings.Join(in.Env, " "), "web-secret") {
			t.Fatalf("running instance %s without its env: %+v", in.ID, in)
		}
		// Started on the node: stopping it needs the node's word.
		a.report(in.ID, api.InstanceStarting, "")
	}
	if code := h.call("DELETE", "/v1/deployments/"+d.ID, h.token, nil, nil); code != 200 {
		t.Fatalf("stop deployment: %d", code)
	}
	var stopping []api.DesiredInstance
	h.eventually("the instances to be desired stopped", func() bool {
		stopping = a.desired()
		return len(stopping) == 3 && len(running(stopping)) == 0
	})
	for _, in := range stopping {
		if len(in.Env) != 0 {
			t.Errorf("instance %s desired %s still gets env %v", in.ID, in.Desired, in.Env)
		}
	}
}
