package node

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
	"github.com/zeitwork/zeitwork/internal/vmm/vmmtest"
)

// snapDriver adds a scripted vmm.Snapshotter to the fake driver: a
// template is a directory, a restore is a Start unless failRestore says
// otherwise.
type snapDriver struct {
	*vmmtest.Driver
	key         string
	builds      atomic.Int32
	restores    atomic.Int32
	failRestore atomic.Bool
	release     chan struct{} // builds wait for it when set
	restoreGate chan struct{} // when set, restores wait for it, then fail
	released    atomic.Value  // the last template dir released
}

func (d *snapDriver) ReleaseTemplate(dir string) { d.released.Store(dir) }

func (d *snapDriver) TemplateKey(context.Context, vmm.Spec) (string, error) { return d.key, nil }

func (d *snapDriver) BuildTemplate(ctx context.Context, spec vmm.Spec, dir string) error {
	d.builds.Add(1)
	if d.release != nil {
		<-d.release
	}
	return os.MkdirAll(dir, 0o700)
}

func (d *snapDriver) Restore(ctx context.Context, spec vmm.Spec, dir string) (*vmm.Instance, error) {
	d.restores.Add(1)
	if d.restoreGate != nil {
		<-d.restoreGate
		return nil, errors.New("restore ended by the test")
	}
	if d.failRestore.Load() {
		return nil, errors.New("qemu: load of migration failed\nInvalid argument")
	}
	return d.Start(ctx, spec)
}

var _ vmm.Snapshotter = (*snapDriver)(nil)

// TestTemplateBuiltOnce: however many instances of one shape start at
// once, one template is built, and once it exists it is used.
func TestTemplateBuiltOnce(t *testing.T) {
	drv := &snapDriver{Driver: vmmtest.New(t.TempDir(), nil), key: "k1", release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tm := newTemplates(ctx, t.TempDir(), drv, slog.New(slog.DiscardHandler))
	spec := vmm.Spec{Kernel: "k", Initrd: "i", MemoryMiB: 256, VCPUs: 1}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if dir := tm.lookup(ctx, spec); dir != "" {
				t.Errorf("template found before it was built: %s", dir)
			}
		}()
	}
	wg.Wait()
	close(drv.release)
	tm.wait()
	if n := drv.builds.Load(); n != 1 {
		t.Errorf("%d builds for one shape, want 1", n)
	}
	if dir := tm.lookup(ctx, spec); filepath.Base(dir) != "k1" {
		t.Errorf("lookup after the build = %q, want the template k1", dir)
	}
	tm.wait()
	if n := drv.builds.Load(); n != 1 {
		t.Errorf("an existing template was built again (%d builds)", n)
	}
}

// TestIdleWaitsForBuilds: idle (what `zeitwork up` waits on before the
// sample) returns only once no template is being built, and then the
// template is there to restore from.
func TestIdleWaitsForBuilds(t *testing.T) {
	drv := &snapDriver{Driver: vmmtest.New(t.TempDir(), nil), key: "k3", release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tm := newTemplates(ctx, t.TempDir(), drv, slog.New(slog.DiscardHandler))
	spec := vmm.Spec{Kernel: "k", Initrd: "i", MemoryMiB: 256, VCPUs: 1}
	tm.prepare(spec)
	gone, stop := context.WithCancel(context.Background())
	stop()
	if err := tm.idle(gone); !errors.Is(err, context.Canceled) {
		t.Fatalf("idle while a build is held = %v, want it to wait until its context ends", err)
	}
	close(drv.release)
	if err := tm.idle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dir := tm.lookup(ctx, spec); filepath.Base(dir) != "k3" {
		t.Errorf("lookup after idle = %q, want the template k3", dir)
	}
	tm.wait()
}

// TestStaleTemplatesCollected: once a shape's template is built, the
// templates whose key is no longer their shape's (built before the guest
// init changed) and those without a shape record are removed and
// released, except one a restore is still using, which goes at the next
// collection.
func TestStaleTemplatesCollected(t *testing.T) {
	drv := &snapDriver{Driver: vmmtest.New(t.TempDir(), nil), key: "k2", restoreGate: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tm := newTemplates(ctx, t.TempDir(), drv, slog.New(slog.DiscardHandler))
	spec := vmm.Spec{Kernel: "k", Initrd: "i", MemoryMiB: 256, VCPUs: 1}
	template := func(name string, record bool) string {
		t.Helper()
		dir := filepath.Join(tm.dir, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if record {
			if err := writeShape(dir, shapeOf(spec)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	stale, legacy, busy := template("k1", true), template("k0", false), template("k1b", true)
	restored := make(chan struct{})
	go func() { defer close(restored); tm.restore(ctx, spec, busy) }()
	waitFor(t, "the restore to start", func() bool { return drv.restores.Load() == 1 })

	tm.prepare(spec)
	tm.wait()
	current := filepath.Join(tm.dir, "k2")
	for dir, want := range map[string]bool{current: true, stale: false, legacy: false, busy: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
	if got := tm.lookup(ctx, spec); got != current {
		t.Errorf("lookup after the collection = %q, want %s", got, current)
	}

	close(drv.restoreGate)
	<-restored
	if n := tm.collect(); n != 1 {
		t.Errorf("collected %d after the restore ended, want 1 (k1b)", n)
	}
	if _, err := os.Stat(busy); !os.IsNotExist(err) {
		t.Errorf("k1b kept after its restore ended: %v", err)
	}
	if got := drv.released.Load(); got != busy {
		t.Errorf("last released %v, want %s", got, busy)
	}
	if _, err := os.Stat(current); err != nil {
		t.Errorf("the current template was collected: %v", err)
	}
}

// TestRestoreFailureBootsAndSays: when the template fails to restore, the
// instance boots all the same, its reports say why, and the template is
// built again.
func TestRestoreFailureBootsAndSays(t *testing.T) {
	var h *harness
	h = newHarness(t, func(g *vmmtest.Guest) {
		<-g.Msgs // the config
		g.Send(channel.Message{Kind: channel.KindHello, UptimeMS: 100})
		g.Send(channel.Message{Kind: channel.KindStarted, PID: 7})
		// "listening" after the host's check found it healthy, as a
		// booted guest's often comes: its report must keep the reason.
		waitFor(t, "healthy", func() bool { return h.op.count(api.InstanceHealthy) > 0 })
		g.Send(channel.Message{Kind: channel.KindListening, UptimeMS: 150})
	})
	drv := &snapDriver{Driver: h.drv, key: "k1"}
	a := h.agent(t)
	a.cfg.Driver = drv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.templates = newTemplates(ctx, h.dir, drv, a.log)
	os.MkdirAll(filepath.Join(h.dir, "templates", "k1"), 0o700) // a template that will not restore
	drv.failRestore.Store(true)

	d := h.desired()
	start(t, a, d)
	waitFor(t, "two healthy reports", func() bool { return h.op.count(api.InstanceHealthy) > 1 })
	for _, rep := range h.op.all(api.InstanceHealthy) {
		if !strings.HasPrefix(rep.Reason, "cold boot: template restore failed: qemu: load of migration failed; Invalid argument") {
			t.Errorf("healthy reason %q does not say the restore failed", rep.Reason)
		}
	}
	rep, _ := h.op.find(api.InstanceHealthy)
	if _, ok := rep.Timings["template_restore"]; ok {
		t.Error("a booted instance reports a restore")
	}
	if drv.restores.Load() != 1 || h.drv.Starts(d.ID) != 1 {
		t.Errorf("restores %d, starts %d; want one of each", drv.restores.Load(), h.drv.Starts(d.ID))
	}
	a.templates.wait()
	if drv.builds.Load() != 1 {
		t.Errorf("the failed template was not rebuilt (%d builds)", drv.builds.Load())
	}
	if got := drv.released.Load(); got != filepath.Join(h.dir, "templates", "k1") {
		t.Errorf("the driver was not told to release the failed template (released %v)", got)
	}
}

// TestRestoredInstanceSaysSo: a restored instance reports no reason and
// the restore's duration, and gets its MAC in the Config.
func TestRestoredInstanceSaysSo(t *testing.T) {
	var macs sync.Map
	h := newHarness(t, func(g *vmmtest.Guest) {
		m := <-g.Msgs
		macs.Store(g.Inst.ID, m.Config.Network.MAC)
		g.Msgs <- m
		boots(g)
	})
	drv := &snapDriver{Driver: h.drv, key: "k1"}
	a := h.agent(t)
	a.cfg.Driver = drv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.templates = newTemplates(ctx, h.dir, drv, a.log)
	os.MkdirAll(filepath.Join(h.dir, "templates", "k1"), 0o700)
	h.net.mac = "52:54:00:aa:bb:cc"

	d := h.desired()
	start(t, a, d)
	waitFor(t, "healthy", func() bool { return h.op.count(api.InstanceHealthy) > 0 })
	rep, _ := h.op.find(api.InstanceHealthy)
	if _, ok := rep.Timings["template_restore"]; !ok || rep.Reason != "" {
		t.Errorf("restored instance reported %q, timings %v", rep.Reason, rep.Timings)
	}
	if mac, _ := macs.Load(d.ID); mac != "52:54:00:aa:bb:cc" {
		t.Errorf("config MAC %v, want the tap's", mac)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// all returns the reports of a state, in order.
func (o *fakeOperator) all(state string) []api.InstanceReport {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []api.InstanceReport
	for _, r := range o.reports {
		if r.State == state {
			out = append(out, r)
		}
	}
	return out
}
