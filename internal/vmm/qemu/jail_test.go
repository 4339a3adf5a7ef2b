package qemu

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/vmm"
)

// TestJailConfinesQEMU starts two VMs and checks the first one's QEMU the
// way an escaped guest would find it: not root, no capabilities, seccomp
// on, in its own cgroup with a memory limit, in an empty network
// namespace, and with neither the other VM's disk and directory nor the
// rest of the state directory in its file system.
func TestJailConfinesQEMU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	state := t.TempDir()
	d := newDriver(t, state)
	if err := os.WriteFile(filepath.Join(state, "secret"), []byte("node token"), 0o600); err != nil {
		t.Fatal(err)
	}
	var insts []*vmm.Instance
	var disks []string
	for _, id := range []string{"a", "b"} {
		disk := makeRootDisk(t)
		inst, err := d.Start(ctx, baseSpec(id, disk))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
		insts, disks = append(insts, inst), append(disks, disk)
	}
	a, b := insts[0], insts[1]

	st := procStatus(t, a.PID)
	for _, f := range []string{"Uid", "Gid"} {
		if ids := strings.Fields(st[f]); len(ids) == 0 || slices.Contains(ids, "0") {
			t.Errorf("%s: %q, want no 0", f, st[f])
		}
	}
	if st["Uid"] == procStatus(t, b.PID)["Uid"] {
		t.Errorf("both VMs run as uid %s", st["Uid"])
	}
	for f, want := range map[string]string{
		"Seccomp": "2", "NoNewPrivs": "1",
		"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000",
	} {
		if st[f] != want {
			t.Errorf("%s: %q, want %q", f, st[f], want)
		}
	}

	// Under TCG, QEMU runs without transparent huge pages: it asks for
	// them on the translation cache, and they cost an idle VM about 2 MiB
	// (docs/benchmarks.md); KVM keeps the host's default.
	if want := map[string]string{"tcg": "0", "kvm": "1"}[d.Accel()]; st["THP_enabled"] != want {
		t.Errorf("THP_enabled %q under %s, want %q", st["THP_enabled"], d.Accel(), want)
	}

	dirs := d.cgroups.Dirs(cgroupName(a.ID))
	for _, dir := range dirs {
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil || !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(a.PID)) {
			t.Errorf("qemu %d not in cgroup %s: %q %v", a.PID, dir, procs, err)
		}
	}
	limitFile := "memory.limit_in_bytes"
	if d.cgroups.V2() {
		limitFile = "memory.max"
	}
	limit, err := os.ReadFile(filepath.Join(dirs[0], limitFile))
	if want := strconv.Itoa((256 + qemuOverheadMiB) << 20); err != nil || strings.TrimSpace(string(limit)) != want {
		t.Errorf("memory limit %q %v, want %s", limit, err, want)
	}

	if ns, own := readLink(t, "/proc/"+strconv.Itoa(a.PID)+"/ns/net"), readLink(t, "/proc/self/ns/net"); ns == own {
		t.Errorf("qemu shares the agent's network namespace %s", own)
	}

	root := "/proc/" + strconv.Itoa(a.PID) + "/root"
	for _, own := range []string{disks[0], a.LogPath, testKernel.Vmlinux} {
		if _, err := os.Stat(root + own); err != nil {
			t.Errorf("own file %s not in the jail: %v", own, err)
		}
	}
	for _, other := range []string{disks[1], filepath.Join(state, b.ID), b.LogPath, filepath.Join(state, "secret"), "/etc/passwd", "/root"} {
		if _, err := os.Stat(root + other); !os.IsNotExist(err) {
			t.Errorf("%s reachable from the jail: %v", other, err)
		}
	}

	if err := d.Destroy(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left after Destroy: %v", dir, err)
		}
	}
}

// TestStopUnderDeepStateDirQuitsThroughQMP: Stop must reach QMP through
// the short socket name; QEMU then exits 0, where SIGKILL (the fallback
// after stopGrace) would give -1.
func TestStopUnderDeepStateDirQuitsThroughQMP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	state := filepath.Join(t.TempDir(), strings.Repeat("deep-directory/", 6), "vms")
	d := newDriver(t, state)
	inst, err := d.Start(ctx, baseSpec("0d9e8f7a-1234-4bcd-9abc-def012345678", makeRootDisk(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
	start := time.Now()
	if err := d.Stop(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st, err := d.Wait(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 0 || took >= stopGrace {
		t.Errorf("stop took %v with exit %+v: killed, not quit through QMP", took, st)
	}
}

// procStatus reads /proc/PID/status as a map of field to value.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func readLink(t *testing.T, path string) string {
	t.Helper()
	s, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
