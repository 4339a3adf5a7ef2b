package platform

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build/buildah"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/image"
)

// TestBuildFromSource builds a multi-stage Dockerfile with RUN steps with
// the real sandboxed buildah builder and runs it on real VMs: the first
// build goes live; a second takes over with no failed request while load
// runs through the switch, and the first drains and stops; a build of
// another branch answers at its own URL while the project URL keeps the
// production version, and scales to zero when idle and wakes on a request.
func TestBuildFromSource(t *testing.T) {
	pid := os.Getpid()
	e := startEnv(t, func(c *Config) {
		c.Build = &buildah.Config{
			Name:   "p" + strconv.Itoa(pid%10000),
			Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 246, byte(pid%150 + 50), 0}), 24),
			// Its own parent, so that the leftover check sees only this test's.
			CgroupParent: "/zeitwork-builds-e2e",
		}
	})
	e.createProject("site", "")
	base := e.pushBusyboxBase("site")

	// The first version is uploaded (zeitwork deploy DIR), the next ones
	// are pushed with git to the project's remote.
	first := e.deployDir("site", siteContext(t, base, "v1"))
	repo := e.gitRepo("site")
	if status, body, _ := e.get(e.host("site"), "/"); status != 200 || !strings.Contains(body, "hello v1") {
		t.Fatalf("project URL after the first build: %d %q", status, body)
	}

	t.Run("a new build takes over without failed requests", func(t *testing.T) {
		var ok, failed atomic.Int64
		var lastFailure atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				status, body, err := e.get(e.host("site"), "/")
				if err != nil || status != 200 || !strings.Contains(body, "hello v") {
					failed.Add(1)
					lastFailure.Store(fmt.Sprintf("%d %q %v", status, body, err))
				} else {
					ok.Add(1)
				}
			}
		}()
		out := e.gitPush(repo, "main", base, "v2")
		for _, want := range []string{"remote: ", "RUN mkdir", "is live at"} {
			if !strings.Contains(out, want) {
				t.Errorf("git push output lacks %q:\n%s", want, out)
			}
		}
		e.eventually("the project URL to serve v2", time.Minute, func() (bool, string) {
			_, body, _ := e.get(e.host("site"), "/")
			return strings.Contains(body, "hello v2"), body
		})
		close(stop)
		wg.Wait()
		if failed.Load() != 0 || ok.Load() == 0 {
			t.Fatalf("%d requests failed (last: %v), %d succeeded", failed.Load(), lastFailure.Load(), ok.Load())
		}
		t.Logf("%d requests through the switch, none failed", ok.Load())
		e.eventually("the first deployment to drain and stop", 2*time.Minute, func() (bool, string) {
			d := e.getDeployment(first.ID)
			return d.Status == "stopped", d.Status
		})
	})

	t.Run("a failing build is refused and production keeps serving", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(repo, "Dockerfile"), []byte("FROM "+base+"\nRUN echo about to fail && false\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		e.git(repo, "checkout", "-q", "main")
		e.git(repo, "commit", "-q", "-am", "broken")
		out, err := e.gitMayFail(repo, "push", "zeitwork", "main")
		if err == nil || !strings.Contains(out, "about to fail") || !strings.Contains(out, "pre-receive hook declined") {
			t.Fatalf("push of a failing build: %v\n%s", err, out)
		}
		if _, body, _ := e.get(e.host("site"), "/"); !strings.Contains(body, "hello v2") {
			t.Errorf("project URL after a failed build: %q", body)
		}
		e.git(repo, "reset", "-q", "--hard", "HEAD~1")
	})

	t.Run("another branch makes a preview", func(t *testing.T) {
		e.gitPush(repo, "feature-x", base, "preview")
		var builds []api.Build
		e.api("GET", "/v1/projects/site/builds", &builds)
		var build api.Build
		for _, b := range builds {
			if b.Branch == "feature-x" {
				build = b
			}
		}
		if build.Status != "done" || build.Deployment == "" || !build.Preview || len(build.Commit) != 40 {
			t.Fatalf("preview build: %+v", build)
		}
		var d api.Deployment
		e.eventually("the preview to be ready", 3*time.Minute, func() (bool, string) {
			d = e.getDeployment(build.Deployment)
			return d.Status == "ready", d.Status
		})
		if status, body, _ := e.get(e.host(api.VersionedLabel("site", d.ID)), "/"); status != 200 || !strings.Contains(body, "hello preview") {
			t.Errorf("preview URL: %d %q", status, body)
		}
		if _, body, _ := e.get(e.host("site"), "/"); !strings.Contains(body, "hello v2") {
			t.Errorf("the project URL left production for the preview: %q", body)
		}
		t.Run("it scales to zero and wakes on a request", func(t *testing.T) { testScaleToZero(t, e, "site", d.ID) })
	})
}

// siteContext is a build context whose Dockerfile has two stages and RUN
// steps, and serves "hello <version>" with busybox httpd.
func siteContext(t *testing.T, base, version string) string {
	t.Helper()
	dir := t.TempDir()
	dockerfile := fmt.Sprintf(`FROM %[1]s AS build
ARG VERSION=%[2]s
RUN mkdir -p /www && echo "hello $VERSION" > /www/index.html
RUN test -s /www/index.html

FROM %[1]s
COPY --from=build /www /www
ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
`, base, version)
	files := map[string]string{"Dockerfile": dockerfile, ".dockerignore": "secret.txt\n", "secret.txt": "not for the build"}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pushBusyboxBase pushes a base image made of Debian's static busybox into
// the project's repository of the built-in registry (no other registry is
// reachable here) and returns its reference.
func (e *env) pushBusyboxBase(project string) string {
	e.t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		e.t.Fatalf("read /bin/busybox (apt-get install busybox-static): %v", err)
	}
	files := map[string]image.File{
		"bin/busybox": {Mode: 0o755, Data: bb},
		"tmp":         {Mode: fs.ModeDir | 0o1777},
	}
	for _, a := range []string{"sh", "echo", "mkdir", "test", "httpd"} {
		files["bin/"+a] = image.File{Mode: fs.ModeSymlink | 0o777, Link: "busybox"}
	}
	img, err := image.FromFiles(files, image.ImageConfig{Env: []string{"PATH=/bin"}})
	if err != nil {
		e.t.Fatal(err)
	}
	ref := strings.TrimPrefix(e.p.APIURL, "http://") + "/" + project + ":base"
	dst, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := image.PushImage(context.Background(), img, dst, &authn.Basic{Username: "user", Password: e.login.Token}, nil); err != nil {
		e.t.Fatalf("push base image: %v", err)
	}
	return ref
}

// deployDir builds dir and waits for its deployment, as `zeitwork deploy
// DIR` does.
func (e *env) deployDir(project, dir string) api.Deployment {
	e.t.Helper()
	var out bytes.Buffer
	d, err := cli.DeployDir(context.Background(), e.login, &out, project, dir)
	if err != nil {
		e.t.Fatalf("deploy %s: %v\n%s", dir, err, out.String())
	}
	if !strings.Contains(out.String(), "RUN mkdir") {
		e.t.Errorf("the build log did not reach the CLI:\n%s", out.String())
	}
	return d
}

// gitRepo makes a git repository whose remote "zeitwork" is the
// project's, with the API token as the password.
func (e *env) gitRepo(project string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	e.git(dir, "init", "-q", "-b", "main")
	remote := strings.Replace(e.p.APIURL, "http://", "http://zeitwork:"+e.login.Token+"@", 1) + "/git/" + project + ".git"
	e.git(dir, "remote", "add", "zeitwork", remote)
	return dir
}

// gitPush commits the site at version on branch and pushes it; the push
// returns once the build is live (or fails, which fails the test).
func (e *env) gitPush(repo, branch, base, version string) string {
	e.t.Helper()
	e.git(repo, "checkout", "-q", "-B", branch)
	src := siteContext(e.t, base, version)
	entries, _ := os.ReadDir(src)
	for _, ent := range entries {
		b, err := os.ReadFile(filepath.Join(src, ent.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, ent.Name()), b, 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	e.git(repo, "add", "-A")
	e.git(repo, "commit", "-q", "-m", "site "+version)
	return e.git(repo, "push", "zeitwork", branch)
}

// git runs git in dir and fails the test if git does.
func (e *env) git(dir string, args ...string) string {
	e.t.Helper()
	out, err := e.gitMayFail(dir, args...)
	if err != nil {
		e.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return out
}

// gitMayFail runs git in dir with a configuration of its own.
func (e *env) gitMayFail(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@acme.test", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@acme.test")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
