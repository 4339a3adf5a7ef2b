package operator_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/image/registrytest"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestRegistryCredentialsAPI: credentials are checked, stored sealed,
// shown without the password, only to their project's organisation.
func TestRegistryCredentialsAPI(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	good := api.RegistryCredentials{Host: "Registry.Example.com", Username: "alice", Password: "tok-SECRET-123", Repository: "registry.example.com/acme/web"}
	var got api.RegistryCredentials
	if code := h.call("PUT", "/v1/projects/web/registry", h.token, good, &got); code != 200 ||
		got.Host != "registry.example.com" || got.Username != "alice" || got.Password != "" || got.Repository != "registry.example.com/acme/web" {
		t.Fatalf("set: %d %+v", code, got)
	}
	own := strings.TrimPrefix(h.url, "http://")
	bad := []struct {
		name string
		edit func(*api.RegistryCredentials)
		code int
		want string
	}{
		{"no host", func(c *api.RegistryCredentials) { c.Host = "" }, 400, "invalid registry host"},
		{"scheme", func(c *api.RegistryCredentials) { c.Host = "https://registry.example.com" }, 400, "invalid registry host"},
		{"path", func(c *api.RegistryCredentials) { c.Host = "registry.example.com/acme" }, 400, "invalid registry host"},
		{"built-in registry", func(c *api.RegistryCredentials) { c.Host, c.Repository = own, "" }, 400, "built-in registry"},
		{"loopback", func(c *api.RegistryCredentials) { c.Host, c.Repository = "127.0.0.1:5000", "" }, 400, "loopback, private"},
		{"metadata", func(c *api.RegistryCredentials) { c.Host, c.Repository = "169.254.169.254", "" }, 400, "loopback, private"},
		{"no username", func(c *api.RegistryCredentials) { c.Username = "" }, 400, "username is missing"},
		{"colon in username", func(c *api.RegistryCredentials) { c.Username = "a:b" }, 400, "colon"},
		{"no password", func(c *api.RegistryCredentials) { c.Password = "" }, 400, "password is missing"},
		{"newline in password", func(c *api.RegistryCredentials) { c.Password = "tok-SECRET-123\n" }, 400, "characters"},
		{"huge password", func(c *api.RegistryCredentials) { c.Password = strings.Repeat("x", 9000) }, 413, "too long"},
		{"repository elsewhere", func(c *api.RegistryCredentials) { c.Repository = "ghcr.io/acme/web" }, 400, "not on the credentials' registry"},
		{"repository with tag", func(c *api.RegistryCredentials) { c.Repository = "registry.example.com/acme/web:v1" }, 400, "invalid push repository"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Host, c.Repository = good.Host, good.Repository
			tc.edit(&c)
			var e api.Error
			if code := h.call("PUT", "/v1/projects/web/registry", h.token, c, &e); code != tc.code || !strings.Contains(e.Error, tc.want) || e.Hint == "" {
				t.Fatalf("%d %+v, want %d %q with a hint", code, e, tc.code, tc.want)
			}
			if strings.Contains(e.Error+e.Hint, "SECRET") {
				t.Fatalf("the error shows the password: %+v", e)
			}
		})
	}
	// Bad input changed nothing; nothing returns the password.
	resp := h.rawBody("GET", "/v1/projects/web/registry", h.token)
	if !strings.Contains(resp, `"registry.example.com"`) || strings.Contains(resp, "SECRET") || strings.Contains(resp, "password") {
		t.Fatalf("get: %s", resp)
	}
	var sealed []byte
	h.store.Pool.QueryRow(context.Background(), "SELECT sealed_password FROM registry_credentials").Scan(&sealed)
	if len(sealed) == 0 || strings.Contains(string(sealed), "SECRET") {
		t.Fatalf("stored password %q is not sealed", sealed)
	}
	// Another organisation sees none of it.
	other := h.otherOrg("other")
	if code := h.call("GET", "/v1/projects/web/registry", other, nil, nil); code != 404 {
		t.Fatalf("other organisation: %d", code)
	}
	if code := h.call("DELETE", "/v1/projects/web/registry", other, nil, nil); code != 404 {
		t.Fatalf("other organisation removed them: %d", code)
	}
	if code := h.call("DELETE", "/v1/projects/web/registry", h.token, nil, nil); code != 204 {
		t.Fatalf("remove: %d", code)
	}
	if code := h.call("GET", "/v1/projects/web/registry", h.token, nil, nil); code != 404 {
		t.Fatalf("get after remove: %d", code)
	}
}

// rawBody returns a response body as text.
func (h *harness) rawBody(method, path, token string) string {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// privateRegistryHarness runs an operator that may reach a private
// registry on loopback (as --allow-registry would allow it), with project
// web's builds pushed there.
func privateRegistryHarness(t *testing.T, password string) (*harness, *registrytest.Registry) {
	t.Helper()
	reg := registrytest.New(t, "alice", "s3cret-token")
	elsewhere := strings.TrimPrefix(reg.Elsewhere.URL, "http://")
	h := start(t, withBuilder(&operatortest.Builder{}), func(c *operator.Config) {
		c.AllowedRegistries = []string{reg.Host, elsewhere}
	})
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	creds := api.RegistryCredentials{Host: reg.Host, Username: "alice", Password: password, Repository: reg.Host + "/acme/web"}
	if code := h.call("PUT", "/v1/projects/web/registry", h.token, creds, nil); code != 200 {
		t.Fatalf("set registry: %d", code)
	}
	return h, reg
}

// TestBuildPushesToProjectRegistry: a build of a project with a push
// repository lands there, with the project's credentials; its deployment
// is pinned to it by digest, the node running it gets the credentials and
// no other instance does; another organisation cannot use the image.
func TestBuildPushesToProjectRegistry(t *testing.T) {
	h, reg := privateRegistryHarness(t, "s3cret-token")
	node := h.register("eu", "10.0.0.1:7443")
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	b = waitBuild(t, h.url, h.token, b.ID, api.BuildDone, api.BuildFailed)
	want := reg.Host + "/acme/web@" + b.Digest
	if b.Status != api.BuildDone || b.Image != want || b.Timings["push_external"] < 0 {
		t.Fatalf("build %+v, want image %s", b, want)
	}
	if d := h.deployment(b.Deployment); d.Image != want {
		t.Fatalf("deployment image %s, want %s", d.Image, want)
	}
	// The registry got the image, tagged, with the project's credentials
	// and no others (not the operator's or a node's token).
	tag, _ := name.ParseReference(reg.Host + "/acme/web:build-" + b.ID[:8])
	desc, err := remote.Get(tag, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret-token"}))
	if err != nil || desc.Digest.String() != b.Digest {
		t.Fatalf("image in the project's registry: %v %v", desc, err)
	}
	if n, other := reg.Authorized(); n == 0 || len(other) != 0 {
		t.Fatalf("registry got the credentials %d times, other credentials %q", n, other)
	}
	if auths, _ := reg.Elsewhere.Seen(); len(auths) != 0 {
		t.Fatalf("the redirect target got credentials %q", auths)
	}
	if log := h.rawBody("GET", "/v1/builds/"+b.ID+"/logs", h.token); strings.Contains(log, "s3cret") || !strings.Contains(log, "pushing to "+reg.Host) {
		t.Fatalf("log:\n%s", log)
	}

	// The resolver pinned it with the credentials; the node gets them for
	// this project's instances only.
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "plain"}, nil)
	h.call("POST", "/v1/projects/plain/deployments", h.token, api.CreateDeploymentRequest{Image: h.pushImage("plain", image.ImageConfig{Entrypoint: []string{"/app"}})}, nil)
	h.eventually("placement", func() bool { return len(running(node.desired())) == 6 })
	for _, in := range running(node.desired()) {
		switch {
		case in.Project == "web" && (in.Image != want || in.RegistryAuth == nil ||
			*in.RegistryAuth != api.RegistryAuth{Host: reg.Host, Username: "alice", Password: "s3cret-token"}):
			t.Fatalf("web instance %+v lacks the registry login", in)
		case in.Project == "plain" && in.RegistryAuth != nil:
			t.Fatalf("another project's instance got the registry login: %+v", in)
		}
	}

	// Another organisation naming the image gets nothing: no credentials
	// are sent for it, and the registry refuses it.
	reg.Reset()
	other := h.otherOrg("thief")
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/thief/deployments", other, api.CreateDeploymentRequest{Image: want}, &d); code != 201 {
		t.Fatalf("deploy: %d", code)
	}
	h.eventually("refusal", func() bool {
		h.call("GET", "/v1/deployments/"+d.ID, other, nil, &d)
		return d.Status == api.StatusFailed
	})
	if auths, hits := reg.Seen(); hits == 0 || len(auths) != 0 || !strings.Contains(d.Reason, "401") {
		t.Fatalf("registry got %d requests with credentials %q; reason %q", hits, auths, d.Reason)
	}
	for _, in := range node.desired() {
		if in.Project == "thief" {
			t.Fatalf("the other organisation's instance was placed: %+v", in)
		}
	}
}

// TestBuildPushToProjectRegistryRefused: wrong credentials fail the build
// with a reason that says what to do, and create no deployment.
func TestBuildPushToProjectRegistryRefused(t *testing.T) {
	h, _ := privateRegistryHarness(t, "wrong-token")
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	b = waitBuild(t, h.url, h.token, b.ID, api.BuildDone, api.BuildFailed)
	if b.Status != api.BuildFailed || b.Deployment != "" || !strings.Contains(b.Reason, "registry refused access") ||
		!strings.Contains(b.Reason, "zeitwork registry set") || strings.Contains(b.Reason, "wrong-token") {
		t.Fatalf("build %+v", b)
	}
}
