package qemu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// TestRestoreFromTemplate saves one template and restores three VMs from
// it, one after the other, each with its own disk, tap, MAC, address,
// hostname, env and clock: every one must answer HTTP with its own
// identity (eth0 with its own address and no other) and its own random
// bytes, although all three resumed the same saved kernel. None may boot: a restored guest never says hello again.
func TestRestoreFromTemplate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := newDriver(t, t.TempDir())
	nsPath := snapNetNS(t, 3)
	tmpl := filepath.Join(t.TempDir(), "tmpl")
	built := time.Now()
	if err := d.BuildTemplate(ctx, baseSpec("tmpl", ""), tmpl); err != nil {
		t.Fatal(err)
	}
	t.Logf("accel %s: template built in %v", d.Accel(), time.Since(built))
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(tmpl, templateMemory), &st); err == nil {
		t.Logf("template memory: %d MiB, %d MiB allocated", st.Size>>20, st.Blocks*512>>20)
	}

	seen := map[string]string{}
	var pids []int
	for i := range 3 {
		got, inst := restoreOne(ctx, t, d, nsPath, tmpl, i)
		pids = append(pids, inst.PID)
		want := map[string]string{
			"hostname": fmt.Sprintf("snap-%d", i),
			"mac":      snapMAC(i),
			// Its own address only: eth0 was up in the template, which
			// must carry none of its own.
			"addrs":    fmt.Sprintf("10.251.%d.2/24", i),
			"greeting": fmt.Sprintf("instance %d", i),
			"marker":   fmt.Sprintf("disk %d", i),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("vm %d: %s=%q, want %q", i, k, got[k], v)
			}
		}
		n, _ := strconv.ParseInt(got["unixtime"], 10, 64)
		if skew := time.Since(time.Unix(n, 0)).Abs(); skew > time.Minute {
			t.Errorf("vm %d: guest clock %s off by %v", i, got["unixtime"], skew)
		}
		if len(got["random"]) != 32 {
			t.Errorf("vm %d: random=%q", i, got["random"])
		}
		if other, ok := seen[got["random"]]; ok {
			t.Errorf("vm %d drew the same random bytes as %s: %s", i, other, got["random"])
		}
		seen[got["random"]] = fmt.Sprint("vm ", i)
	}
	// All three still run: each maps the template's sealed memory
	// privately, holds little of its own, and cannot write the shared pages.
	for i, pid := range pids {
		checkSharedMemory(t, pid, 256)
		checkSealed(t, pid)
		m := smapsRollup(t, pid)
		t.Logf("vm %d idle: rss %d MiB, pss %d MiB, uss %d MiB", i, m["Rss"]>>10, m["Pss"]>>10, (m["Private_Clean"]+m["Private_Dirty"])>>10)
	}
}

// TestRestoreFromStreamTemplate: on a host that cannot seal memfds the
// template is QEMU's whole migration stream, with no memory file, and a
// VM restored from it answers with its own identity from memory of its
// own.
func TestRestoreFromStreamTemplate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := newDriver(t, t.TempDir())
	d.sharedMemory = false
	nsPath := snapNetNS(t, 1)
	tmpl := filepath.Join(t.TempDir(), "tmpl")
	if err := d.BuildTemplate(ctx, baseSpec("tmpl", ""), tmpl); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmpl, templateMemory)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a stream template has a memory file: %v", err)
	}
	got, inst := restoreOne(ctx, t, d, nsPath, tmpl, 0)
	if got["hostname"] != "snap-0" || got["marker"] != "disk 0" {
		t.Errorf("restored vm answered %v", got)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", inst.PID))
	if strings.Contains(string(b), memfdName) {
		t.Error("a vm restored from a stream maps a template memfd")
	}
}

// restoreOne restores VM i, configures it and returns its answer's fields.
func restoreOne(ctx context.Context, t *testing.T, d *Driver, nsPath, tmpl string, i int) (map[string]string, *vmm.Instance) {
	t.Helper()
	spec := baseSpec(fmt.Sprintf("snap%d", i), makeRootDiskWith(t, map[string]string{"marker": fmt.Sprintf("disk %d", i)}))
	spec.Network = vmm.NetworkSpec{TapName: fmt.Sprintf("zwsnap%d", i), MAC: snapMAC(i), NetNS: nsPath}
	start := time.Now()
	inst, err := d.Restore(ctx, spec, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
	g := dialGuest(ctx, t, inst)
	cfg := withPort(baseConfig("/app", "identity"), 8080)
	cfg.Hostname = fmt.Sprintf("snap-%d", i)
	cfg.Env = []string{"PORT=8080", fmt.Sprintf("GREETING=instance %d", i)}
	cfg.Network = channel.Network{Address: fmt.Sprintf("10.251.%d.2/24", i), Gateway: fmt.Sprintf("10.251.%d.1", i), MAC: snapMAC(i)}
	sent := time.Now()
	if err := g.c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	started := g.expect(ctx, t, inst, channel.KindStarted)
	listening := g.expect(ctx, t, inst, channel.KindListening)
	t.Logf("vm %d: restored in %v; config -> app started %v -> listening %v (guest uptime %d ms)", i,
		sent.Sub(start), started.at.Sub(sent), listening.at.Sub(started.at), listening.UptimeMS)
	client := &http.Client{Transport: &http.Transport{DialContext: dialInNetNS(nsPath)}, Timeout: 2 * time.Second}
	body := pollGet(ctx, t, client, fmt.Sprintf("http://10.251.%d.2:8080/", i))
	t.Logf("vm %d: restore -> first response %v", i, time.Since(start))
	select {
	case m := <-g.msgs:
		if m.Kind == channel.KindHello {
			t.Errorf("vm %d said hello: it booted instead of resuming the template", i)
		}
	default:
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out, inst
}

func snapMAC(i int) string { return fmt.Sprintf("52:54:00:5a:00:%02x", i+2) }

// TestRestoreRefusesBadTemplates: a template of another key (stale), one
// whose state is damaged and one whose shared memory file is damaged or
// missing must fail the restore and leave no VM, so that the caller can
// boot instead, which must then work.
func TestRestoreRefusesBadTemplates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := newDriver(t, t.TempDir())
	nsPath := snapNetNS(t, 1)
	spec := baseSpec("bad", makeRootDisk(t))
	spec.Network = vmm.NetworkSpec{TapName: "zwsnap0", MAC: snapMAC(0), NetNS: nsPath}
	if _, err := d.Probe(ctx, spec.Kernel, spec.Initrd); err != nil {
		t.Fatal(err)
	}
	key, err := d.TemplateKey(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("not a migration stream\n", 1000))
	// A good template whose shared memory file is then damaged or lost.
	good := filepath.Join(t.TempDir(), "good")
	if err := d.BuildTemplate(ctx, baseSpec("tmpl", ""), good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key string
		memory    func(dir string) // makes the template's memory, else the state is garbage
	}{
		{"stale", "0123456789abcdef0123456789abcdef", nil},
		{"corrupt", key, nil},
		{"memory corrupt", key, func(dir string) {
			if out, err := exec.Command("cp", "--sparse=always", filepath.Join(good, templateMemory), dir).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			f, _ := os.OpenFile(filepath.Join(dir, templateMemory), os.O_WRONLY, 0)
			f.WriteAt([]byte("a poisoned kernel page"), 16<<20)
			f.Close()
		}},
		{"memory missing", key, func(string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.memory != nil {
				for _, f := range []string{templateState, templateMeta} {
					if err := os.Link(filepath.Join(good, f), filepath.Join(dir, f)); err != nil {
						t.Fatal(err)
					}
				}
				tc.memory(dir)
			} else {
				os.WriteFile(filepath.Join(dir, templateState), garbage, 0o600)
				os.WriteFile(filepath.Join(dir, templateMeta), fmt.Appendf(nil, `{"key":%q,"bytes":%d}`, tc.key, len(garbage)), 0o600)
			}
			inst, err := d.Restore(ctx, spec, dir)
			if err == nil {
				d.Destroy(ctx, inst.ID)
				t.Fatal("restore from a bad template succeeded")
			}
			t.Logf("error: %v", err)
			if _, err := d.Wait(ctx, spec.ID); !errors.Is(err, vmm.ErrNotFound) {
				t.Errorf("a vm was left behind: %v", err)
			}
		})
	}
	// What the node does next: boot the same VM, same disk and tap.
	inst, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatalf("boot after a failed restore: %v", err)
	}
	defer d.Destroy(context.Background(), inst.ID)
	g := dialGuest(ctx, t, inst)
	cfg := withPort(baseConfig("/app", "serve"), 8080)
	cfg.Network = channel.Network{Address: "10.251.0.2/24", Gateway: "10.251.0.1", MAC: snapMAC(0)}
	if err := g.c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialInNetNS(nsPath)}, Timeout: 2 * time.Second}
	if body := pollGet(ctx, t, client, "http://10.251.0.2:8080/"); body != "hello from vm-test\n" {
		t.Errorf("booted vm answered %q", body)
	}
}

// snapNetNS creates a network namespace with n taps zwsnap<i>, each with
// host address 10.251.<i>.1/24, and returns its path.
func snapNetNS(t testing.TB, n int) string {
	t.Helper()
	name := "zwsnap" + strconv.Itoa(os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	in := []string{"ip", "netns", "exec", name}
	run(append(in, "ip", "link", "set", "lo", "up")...)
	for i := range n {
		tap := fmt.Sprintf("zwsnap%d", i)
		run(append(in, "ip", "tuntap", "add", "dev", tap, "mode", "tap")...)
		run(append(in, "ip", "addr", "add", fmt.Sprintf("10.251.%d.1/24", i), "dev", tap)...)
		run(append(in, "ip", "link", "set", tap, "up")...)
	}
	return "/run/netns/" + name
}

// TestTemplateKeyFollowsInputs: the key changes with the initramfs's
// contents (a new guest init), the kernel's and the shape, and with
// nothing else, so that a node reuses its templates until one of them
// changes. No VM: the accelerator is given.
func TestTemplateKeyFollowsInputs(t *testing.T) {
	dir := t.TempDir()
	d, err := New(Config{StateDir: filepath.Join(dir, "state"), Accel: "tcg", CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	kernel, initrd := filepath.Join(dir, "vmlinux"), filepath.Join(dir, "initrd")
	os.WriteFile(kernel, []byte("kernel"), 0o644)
	os.WriteFile(initrd, []byte("init v1"), 0o644)
	spec := vmm.Spec{Kernel: kernel, Initrd: initrd, MemoryMiB: 256, VCPUs: 1}
	key := func(s vmm.Spec) string {
		t.Helper()
		k, err := d.TemplateKey(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(spec)
	other := spec
	other.ID, other.RootDisk, other.Network = "x", "/disk", vmm.NetworkSpec{TapName: "tap", MAC: snapMAC(1)}
	if key(other) != base {
		t.Error("the key depends on an instance's id, disk or network")
	}
	bigger := spec
	bigger.MemoryMiB = 512
	if key(bigger) == base {
		t.Error("the key ignores the memory size")
	}
	os.WriteFile(initrd, []byte("init v2.0"), 0o644)
	if key(spec) == base {
		t.Error("the key ignores a new guest init")
	}
}
