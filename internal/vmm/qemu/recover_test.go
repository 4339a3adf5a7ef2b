package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// TestRecoverAdoptsRunningVM simulates an agent restart: a helper process
// (the old agent) starts a VM and exits; QEMU must outlive it. A new Driver
// on the same state directory must find the VM, drop the state of a VM that
// is gone, talk to the guest (which survives its host end reconnecting),
// forward SIGTERM, and Wait on a QEMU that is not its child.
func TestRecoverAdoptsRunningVM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	state := t.TempDir()
	helper := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+state+":survivor="+makeRootDisk(t)+",unrecorded="+makeRootDisk(t))
	if out, err := helper.CombinedOutput(); err != nil {
		t.Fatalf("old agent: %v: %s", err, out)
	}

	// A VM whose QEMU is gone: its pid is this test process, not a QEMU.
	stale := filepath.Join(state, "stale")
	os.MkdirAll(stale, 0o700)
	os.WriteFile(filepath.Join(stale, "instance.json"), []byte(`{"ID":"stale"}`), 0o600)
	os.WriteFile(filepath.Join(stale, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)

	// One VM's agent died before writing its state: only QEMU knows the pid.
	for _, f := range []string{"pid", "instance.json"} {
		if err := os.Remove(filepath.Join(state, "unrecorded", f)); err != nil {
			t.Fatal(err)
		}
	}

	// A probe VM left by an agent that died mid-probe, hung (paused here).
	probeDir := filepath.Join(state, ".probe-1")
	os.MkdirAll(probeDir, 0o700)
	hung := exec.Command("qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
		"-serial", "file:"+probeDir+"/console.log")
	if err := hung.Start(); err != nil {
		t.Fatal(err)
	}
	hungDone := make(chan error, 1)
	go func() { hungDone <- hung.Wait() }()
	t.Cleanup(func() { hung.Process.Kill() })

	d := newDriver(t, state)
	got, err := d.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*vmm.Instance{}
	for _, inst := range got {
		byID[inst.ID] = inst
		t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
		if !isOurQEMU(inst.PID, filepath.Join(state, inst.ID)) {
			t.Errorf("%s: pid %d is not its qemu", inst.ID, inst.PID)
		}
	}
	if len(got) != 2 || byID["survivor"] == nil || byID["unrecorded"] == nil {
		t.Fatalf("recovered %+v, want survivor and unrecorded", got)
	}
	// Adopted VMs stay jailed, and their uids stay theirs: a VM started
	// now must not share one.
	d.mu.Lock()
	next, _ := d.allocUID()
	for id, v := range d.vms {
		if uid := strconv.Itoa(v.uid); v.uid == 0 || !strings.HasPrefix(procStatus(t, v.inst.PID)["Uid"], uid+"\t") || v.uid == next {
			t.Errorf("%s: recorded uid %d, qemu runs as %q, next uid %d", id, v.uid, procStatus(t, v.inst.PID)["Uid"], next)
		}
	}
	d.mu.Unlock()
	if err := d.Destroy(ctx, "unrecorded"); err != nil {
		t.Fatal(err)
	}
	inst := byID["survivor"]
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("state of the gone vm was kept: %v", err)
	}
	select {
	case <-hungDone:
	case <-ctx.Done():
		t.Fatal("the hung probe vm was not killed")
	}
	if _, err := os.Stat(probeDir); !os.IsNotExist(err) {
		t.Errorf("probe dir kept: %v", err)
	}

	g := dialGuest(ctx, t, inst)
	g.expect(ctx, t, inst, channel.KindHello)
	if err := g.c.Send(channel.Message{Kind: channel.KindConfig, Config: withPort(baseConfig("/app", "serve"), 8080)}); err != nil {
		t.Fatal(err)
	}
	g.expect(ctx, t, inst, channel.KindListening)
	g.c.Close() // another agent restart, while the app runs

	g2 := dialGuest(ctx, t, inst)
	if err := g2.c.Send(channel.Message{Kind: channel.KindSignal, Signal: "TERM"}); err != nil {
		t.Fatal(err)
	}
	if exit := g2.expect(ctx, t, inst, channel.KindExit); exit.ExitCode != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", exit.ExitCode)
	}
	st, err := d.Wait(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 0 {
		t.Errorf("recovered exit %+v, want 0 (powered off)", st)
	}
	var lines []string
	for _, l := range logLines(t, inst.LogPath) {
		lines = append(lines, l.Text)
	}
	if !slices.Contains(lines, "got SIGTERM") {
		t.Errorf("app did not see SIGTERM; log: %q", lines)
	}
	if err := d.Destroy(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, inst.ID)); !os.IsNotExist(err) {
		t.Errorf("state dir left after Destroy: %v", err)
	}
}

// TestStopEndsRunningVM: Stop ends a running VM and Wait returns.
func TestStopEndsRunningVM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := newDriver(t, t.TempDir())
	inst, err := d.Start(ctx, baseSpec("stopme", makeRootDisk(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
	if err := d.Stop(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if isOurQEMU(inst.PID, filepath.Dir(inst.ControlSocket)) {
		t.Fatal("qemu still running after Stop")
	}
	if _, err := d.Wait(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, inst.ID); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func withPort(c *channel.Config, port int) *channel.Config {
	c.Port = port
	return c
}
