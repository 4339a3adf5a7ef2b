package buildah

import (
	"bytes"
	"context"
	"io/fs"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// testSubnet is the builds' subnet in these tests, apart from the default.
var testSubnet = netip.MustParsePrefix("10.223.7.0/29")

// applets are the busybox commands the test base image links.
var applets = []string{"sh", "cat", "echo", "env", "grep", "nc", "awk", "ip", "tr", "test", "sleep", "ls", "id", "true", "head"}

// env is one test's world: a registry on loopback holding a busybox base
// image, a Builder, and a TMPDIR that must be empty after each build.
type env struct {
	b        *Builder
	cfg      Config
	registry string // host:port
	base     string // the base image reference
	tmp      string
}

func newEnv(t testing.TB, limits jail.Limits) *env {
	t.Helper()
	return newEnvWith(t, limits, func(*Config) {})
}

func newEnvWith(t testing.TB, limits jail.Limits, edit func(*Config)) *env {
	t.Helper()
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	e := &env{registry: host, base: host + "/test/busybox:1"}
	e.pushBase(t)

	// The mapped uids of RUN steps must traverse TMPDIR (see prepare).
	e.tmp = t.TempDir()
	for _, d := range []string{e.tmp, filepath.Dir(e.tmp)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TMPDIR", e.tmp)
	e.cfg = Config{
		StateDir:  t.TempDir(),
		Name:      "t",
		Slots:     1,
		Subnet:    testSubnet,
		PlainHTTP: []string{host},
		Limits:    limits,
		// Its own parent, so the leftover checks see only this test's.
		CgroupParent: "/zeitwork-builds-test",
	}
	edit(&e.cfg)
	b, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.b, e.cfg = b, b.cfg
	return e
}

// pushBase pushes a single-layer image with a static busybox and links
// for its applets: the only base image the builds can use, since no
// outside registry is reachable.
func (e *env) pushBase(t testing.TB) {
	t.Helper()
	pushBaseTo(t, e.base)
}

// pushBaseTo pushes the base image as ref, over plain HTTP.
func pushBaseTo(t testing.TB, base string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("read /bin/busybox (apt-get install busybox-static): %v", err)
	}
	files := map[string]image.File{
		"bin/busybox": {Mode: 0o755, Data: bb},
		"tmp":         {Mode: fs.ModeDir | 0o1777},
		"root":        {Mode: fs.ModeDir | 0o700},
	}
	for _, a := range applets {
		files["bin/"+a] = image.File{Mode: fs.ModeSymlink | 0o777, Link: "busybox"}
	}
	img, err := image.FromFiles(files, image.ImageConfig{Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(base, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push base image: %v", err)
	}
}

// context writes a build context with files.
func writeContext(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, data := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// syncBuffer is a build log the test reads after the build.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// build runs one build with a time limit and returns its result, error
// and log, and checks that it left nothing behind.
func (e *env) build(t testing.TB, req build.Request, limit time.Duration) (build.Result, error, string) {
	t.Helper()
	log := &syncBuffer{}
	req.Log = log
	if req.ID == "" {
		req.ID = "b1"
	}
	if req.Push == "" {
		req.Push = e.registry + "/acme/web:" + req.ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	res, err := e.b.Build(ctx, req)
	e.checkNothingLeft(t, req.Project)
	return res, err, log.String()
}

// checkNothingLeft fails if a build left a container, a mount, a
// namespace, a veth, a table, a cgroup or a temporary file.
func (e *env) checkNothingLeft(t testing.TB, project string) {
	t.Helper()
	j := &job{b: e.b, store: e.b.storeDir(project), tmp: e.tmp}
	out, err := runOut(context.Background(), e.cfg.Buildah, append(j.global(), "containers", "--quiet", "--all")...)
	if err != nil {
		t.Errorf("list containers: %v", err)
	} else if strings.TrimSpace(out) != "" {
		t.Errorf("containers left: %s", out)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, e.cfg.StateDir+"/") && strings.Contains(l, "/merged") {
			t.Errorf("mount left: %s", l)
		}
	}
	ents, _ := os.ReadDir(e.tmp)
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), "zeitwork-build-") {
			t.Errorf("temporary directory left: %s", filepath.Join(e.tmp, ent.Name()))
		}
	}
	n := newSandboxNet(e.cfg, 0)
	for _, p := range []string{n.nsPath(), newPullNet(e.cfg, 0, nil).nsPath(), "/sys/class/net/" + n.veth} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
	if tables, _ := runOut(context.Background(), "nft", "list", "tables"); strings.Contains(tables, n.table) {
		t.Errorf("nftables table %s left", n.table)
	}
	if dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", e.cfg.CgroupParent)); len(dirs) > 0 {
		t.Errorf("cgroups left: %v", dirs)
	}
}

func runOut(ctx context.Context, bin string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
