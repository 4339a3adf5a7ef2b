package qemu

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tcgProbeDeadline fits a TCG boot on a busy machine (about 2 s idle, 7 s
// with three at once on 2 cores); probeDeadline fits only KVM.
const tcgProbeDeadline = 60 * time.Second

// TestProbeBootSaysHello checks the probe mechanism itself on the
// accelerator that works everywhere: the init sees zeitwork.probe=1, greets
// and the probe returns within a deadline that fits TCG.
func TestProbeBootSaysHello(t *testing.T) {
	d := newDriver(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*tcgProbeDeadline)
	defer cancel()
	start := time.Now()
	if err := d.probeBoot(ctx, testKernel.Vmlinux, testKernel.Initrd, "tcg", tcgProbeDeadline); err != nil {
		t.Fatalf("tcg probe boot: %v", err)
	}
	t.Logf("tcg probe boot took %v", time.Since(start))
	left, _ := filepath.Glob(filepath.Join(d.cfg.StateDir, ".probe-*"))
	if len(left) != 0 {
		t.Errorf("probe left %v behind", left)
	}
}

// TestProbeBootGivesUp: a guest that has not said hello by the deadline
// fails the probe soon after it, as a KVM that hangs must, and its VM goes.
// No TCG boot greets within 200 ms (QEMU alone takes about half a second
// to start the kernel).
func TestProbeBootGivesUp(t *testing.T) {
	d := newDriver(t, t.TempDir())
	const deadline = 200 * time.Millisecond
	start := time.Now()
	err := d.probeBoot(context.Background(), testKernel.Vmlinux, testKernel.Initrd, "tcg", deadline)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no hello within "+deadline.String()) {
		t.Fatalf("probe boot past its deadline: %v", err)
	}
	// The deadline counts once QEMU runs; starting it may take a while on
	// a busy machine, waiting for the guest must not.
	if took > 10*time.Second {
		t.Errorf("gave up after %v, deadline %v", took, deadline)
	}
	left, _ := filepath.Glob(filepath.Join(d.cfg.StateDir, ".probe-*"))
	if len(left) != 0 {
		t.Errorf("probe left %v behind", left)
	}
}

// TestProbeChoosesAndCaches: auto mode picks kvm only when a KVM boot says
// hello, logs and caches the choice; a new driver reads the cache.
func TestProbeChoosesAndCaches(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	d := newDriver(t, state)
	if got := d.Accel(); got != "" {
		t.Fatalf("Accel before probing = %q", got)
	}
	accel, err := d.Probe(ctx, testKernel.Vmlinux, testKernel.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	kvmBoots := kvmUsable() == nil && d.probeBoot(ctx, testKernel.Vmlinux, testKernel.Initrd, "kvm", probeDeadline) == nil
	if want := map[bool]string{true: "kvm", false: "tcg"}[kvmBoots]; accel != want {
		t.Errorf("accel %q, but a kvm boot works=%v", accel, kvmBoots)
	}
	if d.Accel() != accel {
		t.Errorf("Accel() = %q after Probe returned %q", d.Accel(), accel)
	}
	b, err := os.ReadFile(filepath.Join(state, "accel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c accelCache
	if err := json.Unmarshal(b, &c); err != nil || c.Accel != accel || c.HostKernel == "" {
		t.Fatalf("cache %s: %v", b, err)
	}
	// A poisoned cache proves the second driver reads it instead of probing.
	c.Accel = map[string]string{"kvm": "tcg", "tcg": "kvm"}[accel]
	b, _ = json.Marshal(c)
	os.WriteFile(filepath.Join(state, "accel.json"), b, 0o600)
	again, err := newDriver(t, state).Probe(ctx, testKernel.Vmlinux, testKernel.Initrd)
	if err != nil || again != c.Accel {
		t.Errorf("second driver: %q, %v; want the cached %q", again, err, c.Accel)
	}
}

func TestFixedAccelSkipsProbe(t *testing.T) {
	d, err := New(Config{StateDir: t.TempDir(), Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Accel() != "tcg" {
		t.Errorf("Accel() = %q", d.Accel())
	}
	if got, err := d.Probe(context.Background(), "/nonexistent", "/nonexistent"); err != nil || got != "tcg" {
		t.Errorf("Probe = %q, %v", got, err)
	}
	if _, err := New(Config{StateDir: t.TempDir(), Accel: "hvf"}); err == nil {
		t.Error("unknown accel accepted")
	}
}
