package operator_test

import (
	"context"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build/buildah"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// TestGitPushRealBuildah pushes a multi-stage Dockerfile with a RUN step
// to the git remote of an operator whose builder is the real buildah
// backend, pushing to the operator's own registry; then a commit whose
// RUN step fails, which the push reports and rejects.
func TestGitPushRealBuildah(t *testing.T) {
	// RUN steps run as mapped uids that must traverse TMPDIR, where the
	// operator extracts build contexts.
	tmp := t.TempDir()
	for _, d := range []string{tmp, filepath.Dir(tmp)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TMPDIR", tmp)
	state := t.TempDir()
	g := startGit(t, func(c *operator.Config) {
		b, err := buildah.New(buildah.Config{
			StateDir: state, Name: "gitr", Slots: 1, Subnet: netipPrefix("10.223.41.0/30"),
			UIDBase: 1000000000 + 41*65536, PlainHTTP: []string{c.RegistryHost},
			Limits: jail.Limits{MemoryBytes: 256 << 20, CPUs: 1, Pids: 256}, CgroupParent: "/zeitwork-builds-gitremote",
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Builder = b
	})
	reg := strings.TrimPrefix(g.url, "http://")
	base := reg + "/web/busybox:1"
	pushBusybox(t, base, g.token)

	dockerfile := "FROM " + base + " AS build\nRUN echo built-from-git > /out && echo step-ran\n" +
		"FROM " + base + "\nCOPY --from=build /out /out\nCOPY app /app\nCMD [\"/bin/sh\"]\n"
	repo := localRepo(t, map[string]string{"Dockerfile": dockerfile, "app": "v1"}, "real build")
	sha := mustGit(t, repo, "rev-parse", "HEAD")
	out, ok := git(t, repo, "push", g.remote("web", g.token), "main")
	if !ok {
		t.Fatalf("push failed:\n%s", out)
	}
	bs := g.builds()
	if len(bs) != 1 || bs[0].Status != api.BuildDone || bs[0].Commit != sha || !strings.HasPrefix(bs[0].Digest, "sha256:") {
		t.Fatalf("builds: %+v", bs)
	}
	d := g.deployment(bs[0].Deployment)
	if !d.Live || d.Image != reg+"/web@"+bs[0].Digest {
		t.Fatalf("deployment: %+v", d)
	}
	// The real backend reports its push: the build went through pushing,
	// and each stage was timed.
	for _, stage := range []string{"receive", "extract", "build", "push", "deploy"} {
		if _, ok := bs[0].Timings[stage]; !ok {
			t.Errorf("no %s timing: %v", stage, bs[0].Timings)
		}
	}
	for _, want := range []string{"remote: step-ran", "remote: zeitwork: pushing the image to the registry", "is live at http://web.apps.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}

	commit(t, repo, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo about-to-fail && exit 3\n"}, "broken")
	out, ok = git(t, repo, "push", g.remote("web", g.token), "main")
	if ok {
		t.Fatalf("push of a failing RUN step succeeded:\n%s", out)
	}
	if !strings.Contains(out, "remote: about-to-fail") || !strings.Contains(out, "error: build failed") {
		t.Errorf("push output lacks the failure:\n%s", out)
	}
	if ref := g.remoteRef("refs/heads/main"); ref != sha {
		t.Fatalf("main is %s after a rejected push, want %s", ref, sha)
	}
	if p := g.deployment(d.ID); !p.Live {
		t.Fatalf("the live deployment changed: %+v", p)
	}
}

// pushBusybox pushes a base image with a static busybox and its sh.
func pushBusybox(t *testing.T, ref, token string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("read /bin/busybox (apt-get install busybox-static): %v", err)
	}
	files := map[string]image.File{
		"bin/busybox": {Mode: 0o755, Data: bb},
		"tmp":         {Mode: fs.ModeDir | 0o1777},
	}
	for _, a := range []string{"sh", "echo", "cat"} {
		files["bin/"+a] = image.File{Mode: fs.ModeSymlink | 0o777, Link: "busybox"}
	}
	img, err := image.FromFiles(files, image.ImageConfig{Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := image.PushImage(context.Background(), img, r, &authn.Basic{Username: "u", Password: token}, nil); err != nil {
		t.Fatalf("push base image: %v", err)
	}
}

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
