package qemu

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
	"github.com/zeitwork/zeitwork/internal/vmm/guestkernel"
)

// Shared by every test: the guest kernel (cached machine-wide so the suite
// does not fetch it again), the init and the test app, built once.
var (
	testKernel *guestkernel.Kernel
	testApp    string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "qemu-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	init, err := guestkernel.BuildInit(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if testKernel, err = guestkernel.Prepare(ctx, guestkernel.DefaultCacheDir, init); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testApp = filepath.Join(dir, "app")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", testApp, "./testdata/app")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test app: %v: %s\n", err, out)
		return 1
	}
	if os.Getenv(helperEnv) != "" {
		return runStartHelper(ctx)
	}
	return m.Run()
}

// helperEnv makes the test binary act as a short-lived agent: it starts the
// VMs named in the variable ("statedir:id=disk,id=disk") and exits without
// waiting, so the test can check that QEMU outlives its parent.
const helperEnv = "ZEITWORK_QEMU_START_HELPER"

func runStartHelper(ctx context.Context) int {
	state, vms, _ := strings.Cut(os.Getenv(helperEnv), ":")
	d, err := New(Config{StateDir: state, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), CgroupParent: testCgroupParent})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, vm := range strings.Split(vms, ",") {
		id, disk, _ := strings.Cut(vm, "=")
		if _, err := d.Start(ctx, baseSpec(id, disk)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// testCgroupParent keeps the tests' VM cgroups apart from a node's.
const testCgroupParent = "zeitwork-test"

// newDriver returns a driver with its own state directory.
func newDriver(t *testing.T, stateDir string) *Driver {
	t.Helper()
	d, err := New(Config{StateDir: stateDir, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)), CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// makeRootDisk builds an ext4 image holding the test app, a user database
// and the directories an image has, with mkfs.ext4 -d (no mounting).
func makeRootDisk(t testing.TB) string {
	t.Helper()
	return makeRootDiskWith(t, nil)
}

// makeRootDiskWith is makeRootDisk with extra files (path: content).
func makeRootDiskWith(t testing.TB, extra map[string]string) string {
	t.Helper()
	return makeRootDiskDirs(t, []string{"etc", "home/app", "tmp", "proc", "sys", "dev"}, extra)
}

// makeRootDiskDirs is makeRootDiskWith with only the given directories
// (an image FROM scratch has no /tmp, no /proc).
func makeRootDiskDirs(t testing.TB, dirs []string, extra map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/false\n",
		"etc/group":  "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app, err := os.ReadFile(testApp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "app"), app, 0o755); err != nil {
		t.Fatal(err)
	}
	// Made as the node makes disks (image.BuildExt4): a sparse file first,
	// so that mke2fs marks the inode tables zeroed and the guest has no
	// lazy inode-table initialisation running beside its app.
	img := filepath.Join(t.TempDir(), "root.ext4")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mkfs.ext4", "-q", "-E", "lazy_itable_init=1,lazy_journal_init=1", "-d", root, "-F", img).CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return img
}

// baseSpec is a 256 MiB, one-vCPU VM booting the shared kernel.
func baseSpec(id, disk string) vmm.Spec {
	return vmm.Spec{
		ID: id, Kernel: testKernel.Vmlinux, Initrd: testKernel.Initrd, RootDisk: disk,
		MemoryMiB: 256, VCPUs: 1,
	}
}

func baseConfig(argv ...string) *channel.Config {
	entropy := make([]byte, 32)
	rand.Read(entropy)
	return &channel.Config{
		InstanceID: "test", Hostname: "vm-test", RootDevice: RootDevice,
		Argv: argv, Env: []string{"PORT=8080", "GREETING=hi there"},
		Time: time.Now(), Entropy: entropy,
	}
}

// guestConn is the test's end of a VM's control channel: every message the
// guest sends lands in msgs, with its arrival time.
type guestConn struct {
	c    *channel.Conn
	msgs chan received
}

type received struct {
	channel.Message
	at time.Time
}

func dialGuest(ctx context.Context, t *testing.T, inst *vmm.Instance) *guestConn {
	t.Helper()
	c, err := channel.Dial(ctx, inst.ControlSocket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	g := &guestConn{c: c, msgs: make(chan received, 16)}
	go func() {
		defer close(g.msgs)
		for {
			m, err := c.Receive()
			if err != nil {
				return
			}
			g.msgs <- received{m, time.Now()}
		}
	}()
	return g
}

// expect waits for a message of the given kind, failing on an error message
// or when ctx ends.
func (g *guestConn) expect(ctx context.Context, t *testing.T, inst *vmm.Instance, kind string) received {
	t.Helper()
	for {
		select {
		case m, ok := <-g.msgs:
			if !ok {
				t.Fatalf("control channel closed while waiting for %s\nconsole:\n%s", kind, readFile(inst.ConsolePath))
			}
			if m.Kind == kind {
				return m
			}
			if m.Kind == channel.KindError {
				t.Fatalf("guest error while waiting for %s: %s", kind, m.Error)
			}
		case <-ctx.Done():
			t.Fatalf("no %s message: %v\nconsole:\n%s", kind, ctx.Err(), readFile(inst.ConsolePath))
		}
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// logLines reads the VM's log file.
func logLines(t *testing.T, path string) []channel.LogLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []channel.LogLine
	if err := channel.ReadLogLines(f, func(l channel.LogLine) error { out = append(out, l); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

var _ io.Writer = testWriter{}
