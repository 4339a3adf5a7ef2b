package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/node/network"
	"github.com/zeitwork/zeitwork/internal/vmm/vmmtest"
)

// The supervisor's restart, backoff and adoption logic, with a fake driver
// (package vmmtest), images and network: no root, no QEMU.

type fakeImages struct{}

// fakeDiskSize is the size of fakeImages' root disks: 300 MiB and a byte.
const fakeDiskSize = 300<<20 + 1

func (fakeImages) RootDisk(context.Context, string, authn.Authenticator, ...image.Option) (*image.Disk, error) {
	return &image.Disk{Config: image.ImageConfig{Entrypoint: []string{"/app"}}, Size: fakeDiskSize}, nil
}

func (fakeImages) CopyForVM(context.Context, *image.Disk, string) (image.CopyStats, error) {
	return image.CopyStats{}, nil
}

func (fakeImages) Hold(string) func() { return func() {} }

type fakeNetwork struct {
	mu      sync.Mutex
	deleted int
	mac     string
}

func (n *fakeNetwork) CreateTap(string, netip.Addr) (*network.Tap, error) {
	return &network.Tap{Name: "tap", MAC: n.mac, Address: netip.MustParsePrefix("127.0.0.1/8"), Gateway: netip.MustParseAddr("127.0.0.1")}, nil
}

func (n *fakeNetwork) DeleteTap(string, netip.Addr) error {
	n.mu.Lock()
	n.deleted++
	n.mu.Unlock()
	return nil
}

func (*fakeNetwork) DNS() []string { return nil }

// fakeOperator records reports and log lines.
type fakeOperator struct {
	mu      sync.Mutex
	reports []api.InstanceReport
	lines   []api.LogLine
}

func (o *fakeOperator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/logs") {
		var b api.LogBatch
		json.NewDecoder(r.Body).Decode(&b)
		o.lines = append(o.lines, b.Lines...)
	} else {
		var rep api.InstanceReport
		json.NewDecoder(r.Body).Decode(&rep)
		o.reports = append(o.reports, rep)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *fakeOperator) count(state string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, r := range o.reports {
		if r.State == state {
			n++
		}
	}
	return n
}

func (o *fakeOperator) find(state string) (api.InstanceReport, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.reports {
		if r.State == state {
			return r, true
		}
	}
	return api.InstanceReport{}, false
}

func (o *fakeOperator) logged(text string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range o.lines {
		if strings.Contains(l.Text, text) {
			return true
		}
	}
	return false
}

type harness struct {
	drv  *vmmtest.Driver
	op   *fakeOperator
	net  *fakeNetwork
	srv  *httptest.Server
	dir  string
	port int
}

// newHarness starts a fake operator and a TCP listener standing for the
// app (the supervisor's health check dials it).
func newHarness(t *testing.T, guest func(*vmmtest.Guest)) *harness {
	h := &harness{op: &fakeOperator{}, net: &fakeNetwork{}, dir: t.TempDir()}
	h.srv = httptest.NewServer(h.op)
	t.Cleanup(h.srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	h.port = ln.Addr().(*net.TCPAddr).Port
	h.drv = vmmtest.New(filepath.Join(h.dir, "vms"), guest)
	return h
}

// agent is a node agent as Run would set it up, with short backoffs.
func (h *harness) agent(t *testing.T) *Agent {
	for _, d := range []string{"instances", "disks"} {
		os.MkdirAll(filepath.Join(h.dir, d), 0o700)
	}
	return &Agent{
		cfg: Config{
			StateDir: h.dir, Driver: h.drv, Images: fakeImages{}, Network: h.net,
			StartTimeout: 10 * time.Second,
		},
		log:     slog.New(slog.DiscardHandler),
		client:  &client{base: h.srv.URL, http: h.srv.Client()},
		records: records{dir: filepath.Join(h.dir, "instances")},
		metrics: newMetrics(), sups: map[string]*supervisor{},
		backoffMin: 200 * time.Millisecond, backoffMax: time.Second,
	}
}

func (h *harness) desired() api.DesiredInstance {
	return api.DesiredInstance{ID: "0123456789abcdef", Deployment: "d", Project: "p", Port: h.port, Desired: "running"}
}

// boots is a guest whose app comes up and listens.
func boots(g *vmmtest.Guest) {
	<-g.Msgs // the config
	g.Send(channel.Message{Kind: channel.KindHello, UptimeMS: 100})
	g.Send(channel.Message{Kind: channel.KindStarted, PID: 7})
	g.Send(channel.Message{Kind: channel.KindListening, UptimeMS: 150})
}

func start(t *testing.T, a *Agent, d api.DesiredInstance) (*supervisor, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	s := a.newSupervisor(ctx, record{Desired: d}, nil)
	s.env.deliver(d.Env) // as the agent does with a desired state
	a.mu.Lock()
	a.sups[d.ID] = s
	a.mu.Unlock()
	go s.run()
	t.Cleanup(func() { cancel(); <-s.done })
	return s, cancel
}

func TestSupervisorRestartsAfterCrashWithBackoff(t *testing.T) {
	var h *harness
	h = newHarness(t, func(g *vmmtest.Guest) {
		boots(g)
		if h.drv.Starts(g.Inst.ID) > 1 {
			return // the second boot stays up
		}
		time.Sleep(300 * time.Millisecond) // healthy for a while
		g.Log("working", "panic: out of cheese")
		g.Send(channel.Message{Kind: channel.KindExit, ExitCode: 2})
		g.Exit(0)
	})
	a := h.agent(t)
	d := h.desired()
	start(t, a, d)

	waitUntil(t, 10*time.Second, "a second healthy report", func() bool { return h.op.count(api.InstanceHealthy) >= 2 })
	if h.drv.Starts(d.ID) != 2 {
		t.Fatalf("%d starts, want 2", h.drv.Starts(d.ID))
	}
	failed, ok := h.op.find(api.InstanceFailed)
	if !ok || failed.Restarts != 1 || !strings.Contains(failed.Reason, "app exited with code 2") ||
		!strings.Contains(failed.Reason, "out of cheese") || failed.Permanent {
		t.Fatalf("failed report = %+v", failed)
	}
	// The crash's last lines reached the operator, not only the reason.
	waitUntil(t, 5*time.Second, "the last lines shipped", func() bool { return h.op.logged("panic: out of cheese") })
}

func TestSupervisorBackoffDoubles(t *testing.T) {
	var mu sync.Mutex
	var startedAt []time.Time
	h := newHarness(t, func(g *vmmtest.Guest) {
		mu.Lock()
		startedAt = append(startedAt, time.Now())
		mu.Unlock()
		<-g.Msgs
		g.Send(channel.Message{Kind: channel.KindExit, ExitCode: 1})
		g.Exit(0)
	})
	a := h.agent(t)
	start(t, a, h.desired())
	waitUntil(t, 10*time.Second, "four starts", func() bool { mu.Lock(); defer mu.Unlock(); return len(startedAt) >= 4 })
	mu.Lock()
	defer mu.Unlock()
	// Waits of 200 ms, 400 ms, 800 ms (plus the exit drain): each longer
	// than the backoff before it.
	for i, min := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		if gap := startedAt[i+1].Sub(startedAt[i]); gap < min {
			t.Errorf("restart %d after %s, want at least %s", i+1, gap, min)
		}
	}
}

func TestSupervisorGivesUpOnPermanentFailure(t *testing.T) {
	h := newHarness(t, func(g *vmmtest.Guest) {
		<-g.Msgs
		g.Send(channel.Message{Kind: channel.KindError, Error: "exec /app: no such file or directory"})
	})
	a := h.agent(t)
	d := h.desired()
	s, _ := start(t, a, d)
	waitUntil(t, 5*time.Second, "a failed report", func() bool { return h.op.count(api.InstanceFailed) >= 1 })
	rep, _ := h.op.find(api.InstanceFailed)
	if !rep.Permanent || !strings.Contains(rep.Reason, "no such file") {
		t.Fatalf("report = %+v", rep)
	}
	// Several backoffs later there is still only the one start.
	deadline := time.Now().Add(3 * a.backoffMax)
	for time.Now().Before(deadline) {
		if n := h.drv.Starts(d.ID); n != 1 {
			t.Fatalf("restarted after a permanent failure: %d starts", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.currentState(); got != api.InstanceFailed {
		t.Fatalf("state %q, want failed", got)
	}
	s.stop()
	waitUntil(t, 5*time.Second, "a stopped report", func() bool { return h.op.count(api.InstanceStopped) == 1 })
}

func TestSupervisorStopDrainsAndCleansUp(t *testing.T) {
	h := newHarness(t, boots)
	a := h.agent(t)
	d := h.desired()
	s, _ := start(t, a, d)
	waitUntil(t, 5*time.Second, "healthy", func() bool { return h.op.count(api.InstanceHealthy) >= 1 })
	vm := h.drv.VM(d.ID)
	s.stop()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("supervisor did not end after stop")
	}
	select {
	case <-vm.Done():
	default:
		t.Fatal("vm still running after stop")
	}
	if h.op.count(api.InstanceStopped) != 1 || h.drv.Destroyed(d.ID) == 0 || h.net.deleted != 1 {
		t.Fatalf("stopped reports %d, destroyed %d, taps deleted %d", h.op.count(api.InstanceStopped), h.drv.Destroyed(d.ID), h.net.deleted)
	}
	if recs, _ := a.records.load(); len(recs) != 0 {
		t.Fatalf("records left: %v", recs)
	}
	if _, ok := a.sups[d.ID]; ok {
		t.Fatal("stopped supervisor still known")
	}
}

// An agent that restarts adopts the running VM: it is not rebooted, and
// it keeps serving.
func TestAgentAdoptsRunningVMWithoutRebooting(t *testing.T) {
	h := newHarness(t, boots)
	a := h.agent(t)
	d := h.desired()
	s, cancel := start(t, a, d)
	waitUntil(t, 5*time.Second, "healthy", func() bool { return h.op.count(api.InstanceHealthy) >= 1 })
	cancel() // the agent stops; its VMs do not
	<-s.done
	vm := h.drv.VM(d.ID)
	if vm == nil || !vm.Alive() {
		t.Fatal("agent shutdown stopped the vm")
	}

	b := h.agent(t)
	ctx, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	if err := b.adopt(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "healthy again", func() bool { return h.op.count(api.InstanceHealthy) >= 2 })
	if n := h.drv.Starts(d.ID); n != 1 || !vm.Alive() || h.drv.Destroyed(d.ID) != 0 {
		t.Fatalf("starts %d, alive %v, destroyed %d: the vm was rebooted", n, vm.Alive(), h.drv.Destroyed(d.ID))
	}
	b.mu.Lock()
	sb := b.sups[d.ID]
	b.mu.Unlock()
	if addr, ok := sb.backend(); !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("backend = %q, %v", addr, ok)
	}
	cancelB()
	<-sb.done
}

// A guest that says it listens over and over costs one report.
func TestSupervisorCoalescesRepeatedListening(t *testing.T) {
	var h *harness
	h = newHarness(t, func(g *vmmtest.Guest) {
		boots(g)
		for h.op.count(api.InstanceHealthy) == 0 { // flood a healthy instance
			time.Sleep(10 * time.Millisecond)
		}
		for range 300 {
			g.Send(channel.Message{Kind: channel.KindHello, UptimeMS: 100})
			g.Send(channel.Message{Kind: channel.KindListening, UptimeMS: 200})
		}
		g.Log("flood over")
	})
	a := h.agent(t)
	start(t, a, h.desired())
	waitUntil(t, 10*time.Second, "the guest's flood to end", func() bool { return h.op.logged("flood over") })
	if n := h.op.count(api.InstanceHealthy); n > 2 {
		t.Fatalf("%d healthy reports for one boot", n)
	}
}

// The goroutine reading the guest's messages ends with its attempt, even
// when the guest keeps talking after the app exited.
func TestSupervisorRestartsLeakNoGoroutines(t *testing.T) {
	h := newHarness(t, func(g *vmmtest.Guest) {
		<-g.Msgs
		g.Send(channel.Message{Kind: channel.KindExit, ExitCode: 1})
		for range 100 { // nobody reads these after the exit
			g.Send(channel.Message{Kind: channel.KindListening, UptimeMS: 1})
		}
		time.Sleep(100 * time.Millisecond)
		g.Exit(0)
	})
	before := runtime.NumGoroutine()
	a := h.agent(t)
	a.backoffMin, a.backoffMax = 10*time.Millisecond, 10*time.Millisecond
	d := h.desired()
	s, _ := start(t, a, d)
	waitUntil(t, 20*time.Second, "five restarts", func() bool { return h.drv.Starts(d.ID) >= 6 })
	s.stop()
	<-s.done
	h.srv.CloseClientConnections()
	h.srv.Client().CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after five restarts:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSupervisorReportsRootDiskSize: the report that the VM boots carries
// the size of its root disk in MiB, rounded up, which the scheduler counts
// the image's instances at.
func TestSupervisorReportsRootDiskSize(t *testing.T) {
	h := newHarness(t, boots)
	a := h.agent(t)
	start(t, a, h.desired())
	waitUntil(t, 10*time.Second, "a healthy report", func() bool { return h.op.count(api.InstanceHealthy) >= 1 })
	h.op.mu.Lock()
	defer h.op.mu.Unlock()
	for _, r := range h.op.reports {
		if r.State == api.InstanceStarting && r.DiskMiB == 301 {
			return
		}
	}
	t.Fatalf("no starting report with disk_mib 301: %+v", h.op.reports)
}
