package buildah

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

var testLimits = jail.Limits{MemoryBytes: 256 << 20, CPUs: 1, Pids: 256}

// multiStage has a dependency stage, the app stage (the target) and a
// stage after it that must not run.
const multiStage = `ARG BASE
FROM ${BASE} AS deps
ARG GREETING=unset
RUN echo "$GREETING" > /greeting && echo step-deps-ran
FROM ${BASE} AS app
COPY --from=deps /greeting /greeting
COPY . /ctx/
RUN test ! -e /ctx/ignored.txt && cat /greeting /ctx/app.txt > /out && echo step-app-ran
FROM app AS debug
RUN echo step-debug-ran
`

func multiStageRequest(e *env, project, id string) build.Request {
	return build.Request{
		ID: id, Project: project,
		Target: "app",
		Args:   map[string]string{"BASE": e.base, "GREETING": "hello"},
		Push:   e.registry + "/acme/web:" + id,
	}
}

// TestBuildMultiStagePushesAndReusesCache builds a multi-stage Dockerfile
// with build args, .dockerignore and --target, checks the pushed image and
// its digest, then rebuilds unchanged (all steps from the cache) and
// builds the same thing for another project (no cache shared).
func TestBuildMultiStagePushesAndReusesCache(t *testing.T) {
	e := newEnv(t, testLimits)
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile":    multiStage,
		"app.txt":       "app v1\n",
		"ignored.txt":   "must not be copied\n",
		".dockerignore": "ignored.txt\n",
	})

	req := multiStageRequest(e, "p1", "b1")
	req.ContextDir = ctxDir
	res, err, log := e.build(t, req, 2*time.Minute)
	if err != nil {
		t.Fatalf("cold build: %v\n%s", err, log)
	}
	for _, want := range []string{"step-deps-ran", "step-app-ran"} {
		if !ran(log, want) {
			t.Errorf("cold build log lacks %q:\n%s", want, log)
		}
	}
	if ran(log, "step-debug-ran") {
		t.Errorf("the stage after --target ran:\n%s", log)
	}
	checkPushed(t, req.Push, res.Digest, "hello\napp v1\n")
	t.Logf("cold build: build %d ms, push %d ms", res.Timings["build"], res.Timings["push"])

	req2 := multiStageRequest(e, "p1", "b2")
	req2.ContextDir = ctxDir
	res2, err, log2 := e.build(t, req2, 2*time.Minute)
	if err != nil {
		t.Fatalf("warm build: %v\n%s", err, log2)
	}
	if ran(log2, "step-deps-ran") || ran(log2, "step-app-ran") {
		t.Errorf("warm build ran RUN steps again:\n%s", log2)
	}
	if n := strings.Count(log2, "Using cache"); n < 4 {
		t.Errorf("warm build used the cache %d times, want every step:\n%s", n, log2)
	}
	if res2.Digest != res.Digest {
		t.Logf("warm digest %s differs from cold %s (timestamps)", res2.Digest, res.Digest)
	}
	checkPushed(t, req2.Push, res2.Digest, "hello\napp v1\n")
	t.Logf("warm build: build %d ms, push %d ms", res2.Timings["build"], res2.Timings["push"])

	req3 := multiStageRequest(e, "p2", "b3")
	req3.ContextDir = ctxDir
	_, err, log3 := e.build(t, req3, 2*time.Minute)
	if err != nil {
		t.Fatalf("other project's build: %v\n%s", err, log3)
	}
	if !ran(log3, "step-deps-ran") || strings.Contains(log3, "Using cache") {
		t.Errorf("another project's build used p1's cache:\n%s", log3)
	}
}

// ran reports whether a RUN step printed marker: a line of its own, not
// the echo of the step's command.
func ran(log, marker string) bool {
	for _, l := range strings.Split(log, "\n") {
		if l == marker {
			return true
		}
	}
	return false
}

// checkPushed checks that ref's manifest digest in the registry is
// digest and that its /out file holds want.
func checkPushed(t *testing.T, ref, digest, want string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		t.Fatalf("head %s: %v", ref, err)
	}
	if desc.Digest.String() != digest {
		t.Errorf("registry has %s for %s, the build said %s", desc.Digest, ref, digest)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no /out in the pushed image: %v", err)
		}
		if strings.TrimPrefix(h.Name, "/") == "out" {
			b, _ := io.ReadAll(tr)
			if string(b) != want {
				t.Errorf("/out = %q, want %q", b, want)
			}
			return
		}
	}
}

// TestBuildUserErrors checks that the tenant's mistakes fail as
// build.ErrUser with a reason the user can act on, and leave nothing.
func TestBuildUserErrors(t *testing.T) {
	e := newEnv(t, testLimits)
	cases := []struct {
		name, dockerfile string
		noDockerfile     bool
		limit            time.Duration
		want             string
	}{
		{name: "syntax", dockerfile: "FROM " + e.base + "\nRUNN echo hi\n", want: "unknown instruction"},
		{name: "failing run", dockerfile: "FROM " + e.base + "\nRUN echo about-to-fail && exit 3\n", want: "exit status 3"},
		{name: "missing base", dockerfile: "FROM " + e.registry + "/test/nothing:1\nRUN true\n", want: "nothing"},
		{name: "missing dockerfile", noDockerfile: true, want: "no Dockerfile"},
		{name: "time limit", dockerfile: "FROM " + e.base + "\nRUN sleep 120\n", limit: 8 * time.Second, want: "time limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"app.txt": "x"}
			if !c.noDockerfile {
				files["Dockerfile"] = c.dockerfile
			}
			limit := c.limit
			if limit == 0 {
				limit = time.Minute
			}
			start := time.Now()
			_, err, log := e.build(t, build.Request{Project: "p1", ContextDir: writeContext(t, files)}, limit)
			if !errors.Is(err, build.ErrUser) {
				t.Fatalf("err = %v, want build.ErrUser\n%s", err, log)
			}
			if first := strings.SplitN(err.Error(), "\n", 2)[0]; !strings.Contains(strings.ToLower(first), strings.ToLower(c.want)) {
				t.Errorf("first line of the error %q lacks %q", first, c.want)
			}
			if c.limit > 0 && time.Since(start) > c.limit+20*time.Second {
				t.Errorf("the build ran %s past its %s limit", time.Since(start), c.limit)
			}
		})
	}
}

// BenchmarkSampleApp builds the equivalent of examples/hello's Dockerfile
// with a build stage (the examples' base images are not reachable here),
// cold (empty cache) and then unchanged (warm), and reports both.
func BenchmarkSampleApp(b *testing.B) {
	ctxDir := writeContext(b, map[string]string{"Dockerfile": ""})
	gobuild := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(ctxDir, "hello"), ".")
	gobuild.Dir = "../../../examples/hello"
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		b.Fatalf("build the sample app: %v\n%s", err, out)
	}
	for i := 0; i < b.N; i++ {
		e := newEnv(b, testLimits)
		df := "FROM " + e.base + " AS build\nCOPY hello /src/hello\nRUN cp /src/hello /app && chmod 755 /app\n" +
			"FROM scratch\nCOPY --from=build /app /app\nUSER 1000:1000\nENV PORT=8080\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"
		if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
			b.Fatal(err)
		}
		for _, run := range []string{"cold", "warm"} {
			start := time.Now()
			res, err, log := e.build(b, build.Request{ID: run, Project: "hello", ContextDir: ctxDir}, 2*time.Minute)
			if err != nil {
				b.Fatalf("%s build: %v\n%s", run, err, log)
			}
			b.ReportMetric(float64(res.Timings["build"]), run+"-build-ms")
			b.ReportMetric(float64(res.Timings["push"]), run+"-push-ms")
			b.ReportMetric(float64(time.Since(start).Milliseconds()), run+"-total-ms")
		}
	}
}
