package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
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
	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/image"
)

// TestBuildFromSource builds a multi-stage Dockerfile with RUN steps with
// the real sandboxed buildah builder and runs it on real VMs: the first
// build goes live; a second takes over with no failed request while load
// runs through the switch, and the first drains and stops; a build of
// another branch answers at its own URL while the project URL keeps the
// production version.
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

	first := e.deployDir("site", siteContext(t, base, "v1"))
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
		e.deployDir("site", siteContext(t, base, "v2"))
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

	t.Run("another branch makes a preview", func(t *testing.T) {
		b := e.uploadBuild("site", siteContext(t, base, "preview"), "feature-x")
		var build api.Build
		e.eventually("the preview build to finish", 3*time.Minute, func() (bool, string) {
			e.api("GET", "/v1/builds/"+b.ID, &build)
			return build.Status == "done" || build.Status == "failed", build.Status + " " + build.Reason
		})
		if build.Status != "done" || build.Deployment == "" {
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

// uploadBuild queues a build of dir for branch through the API.
func (e *env) uploadBuild(project, dir, branch string) api.Build {
	e.t.Helper()
	var archive bytes.Buffer
	if _, err := buildcontext.Pack(dir, "Dockerfile", &archive, 1<<20); err != nil {
		e.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", e.p.APIURL+"/v1/projects/"+project+"/builds?branch="+branch, &archive)
	req.Header.Set("Authorization", "Bearer "+e.login.Token)
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b api.Build
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != http.StatusAccepted {
		e.t.Fatalf("queue build: %d %v", resp.StatusCode, err)
	}
	return b
}
