package operator_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build/buildah"
	"github.com/zeitwork/zeitwork/internal/image/registrytest"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// TestBuildahPushesToProjectRegistry builds a Dockerfile with a RUN step
// with the real buildah backend for a project whose builds go to a
// private registry: the image lands there with the project's login, with
// the digest buildah produced, and the deployment is pinned to it.
func TestBuildahPushesToProjectRegistry(t *testing.T) {
	// RUN steps run as mapped uids that must traverse TMPDIR, where the
	// operator extracts build contexts.
	tmp := t.TempDir()
	for _, d := range []string{tmp, filepath.Dir(tmp)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TMPDIR", tmp)
	reg := registrytest.New(t, "alice", "s3cret-token")
	state := t.TempDir()
	h := start(t, func(c *operator.Config) {
		c.AllowedRegistries = []string{reg.Host, strings.TrimPrefix(reg.Elsewhere.URL, "http://")}
		b, err := buildah.New(buildah.Config{
			StateDir: state, Name: "xreg", Slots: 1, Subnet: netipPrefix("10.223.43.0/30"),
			UIDBase: 1000000000 + 43*65536, PlainHTTP: []string{c.RegistryHost},
			Limits: jail.Limits{MemoryBytes: 256 << 20, CPUs: 1, Pids: 256}, CgroupParent: "/zeitwork-builds-extreg",
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Builder = b
	})
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	creds := api.RegistryCredentials{Host: reg.Host, Username: "alice", Password: "s3cret-token", Repository: reg.Host + "/acme/web"}
	if code := h.call("PUT", "/v1/projects/web/registry", h.token, creds, nil); code != 200 {
		t.Fatalf("set registry: %d", code)
	}
	base := strings.TrimPrefix(h.url, "http://") + "/web/busybox:1"
	pushBusybox(t, base, h.token)

	files := map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo built > /out\nCOPY app /app\nCMD [\"/bin/sh\"]\n", "app": "v1"}
	_, b, e := upload(t, h.url, h.token, "web", "", contextArchive(t, files))
	if b.ID == "" {
		t.Fatalf("upload: %+v", e)
	}
	b = waitBuildFor(t, h.url, h.token, b.ID, api.BuildDone, api.BuildFailed)
	want := reg.Host + "/acme/web@" + b.Digest
	if b.Status != api.BuildDone || b.Image != want {
		t.Fatalf("build %+v, want image %s", b, want)
	}
	if d := h.deployment(b.Deployment); d.Image != want {
		t.Fatalf("deployment image %s, want %s", d.Image, want)
	}
	tag, _ := name.ParseReference(reg.Host + "/acme/web:build-" + b.ID[:8])
	desc, err := remote.Get(tag, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret-token"}))
	if err != nil || desc.Digest.String() != b.Digest {
		t.Fatalf("image in the project's registry: %v %v", desc, err)
	}
	if n, other := reg.Authorized(); n == 0 || len(other) != 0 {
		t.Fatalf("registry got the login %d times, other credentials %q", n, other)
	}
}

// waitBuildFor is waitBuild with a deadline for real builds on a busy
// machine.
func waitBuildFor(t *testing.T, url, token, id string, final ...string) api.Build {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		b := getBuild(t, url, token, id)
		if slices.Contains(final, b.Status) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("build %s is %s (%s), want %v", id, b.Status, b.Reason, final)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
