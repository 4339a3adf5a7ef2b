package qemu

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// TestNetworkServesHTTP boots a VM on a tap in a network namespace the test
// creates (QEMU must open the tap there), gives the guest an address over
// the control channel and fetches a page from the app inside the VM. It also
// measures the boot stages and the idle QEMU's memory.
func TestNetworkServesHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nsPath := testNetNS(t, "10.250.0.1/24")
	d := newDriver(t, t.TempDir())
	spec := baseSpec("web", makeRootDisk(t))
	spec.Network = vmm.NetworkSpec{TapName: "zwtap0", MAC: "52:54:00:12:34:56", NetNS: nsPath}
	if _, err := d.Probe(ctx, spec.Kernel, spec.Initrd); err != nil { // not part of the timing
		t.Fatal(err)
	}
	start := time.Now()
	inst, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
	g := dialGuest(ctx, t, inst)
	hello := g.expect(ctx, t, inst, channel.KindHello)
	cfg := withPort(baseConfig("/app", "serve"), 8080)
	cfg.Network = channel.Network{Address: "10.250.0.2/24", Gateway: "10.250.0.1", MTU: 1400, DNS: []string{"10.250.0.1"}}
	if err := g.c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	listening := g.expect(ctx, t, inst, channel.KindListening)

	client := &http.Client{Transport: &http.Transport{DialContext: dialInNetNS(nsPath)}, Timeout: 2 * time.Second}
	body := pollGet(ctx, t, client, "http://10.250.0.2:8080/")
	answered := time.Now()
	if want := "hello from vm-test\n"; body != want {
		t.Errorf("body %q, want %q", body, want)
	}
	t.Logf("accel %s: qemu start -> hello %v, hello -> listening %v (guest uptime %d -> %d ms), start -> first response %v",
		d.Accel(), hello.at.Sub(start), listening.at.Sub(hello.at), hello.UptimeMS, listening.UptimeMS, answered.Sub(start))
	rss, pss := memoryMiB(t, inst.PID)
	t.Logf("qemu memory with a 256 MiB guest, idle app: rss %d MiB, pss %d MiB (rss includes the vmlinux mapping, page cache shared by all VMs)", rss, pss)
	t.Logf("console:\n%s", readFile(inst.ConsolePath))
}

// testNetNS creates a network namespace holding a tap "zwtap0" with the
// given host-side address, and returns its path.
func testNetNS(t *testing.T, hostAddr string) string {
	t.Helper()
	name := "zwqemu" + strconv.Itoa(os.Getpid())
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
	run(append(in, "ip", "tuntap", "add", "dev", "zwtap0", "mode", "tap")...)
	run(append(in, "ip", "addr", "add", hostAddr, "dev", "zwtap0")...)
	run(append(in, "ip", "link", "set", "zwtap0", "up")...)
	return "/run/netns/" + name
}

// dialInNetNS dials from inside a network namespace: the socket is created
// by a thread switched into it, and keeps that namespace afterwards.
func dialInNetNS(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// This goroutine's thread is left in the namespace and dies
			// with it (no UnlockOSThread), so no other goroutine runs there.
			runtime.LockOSThread()
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns: %w", err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// pollGet retries until the app answers: its first connection can lag the
// listening socket by a little under TCG.
func pollGet(ctx context.Context, t *testing.T, c *http.Client, url string) string {
	t.Helper()
	var lastErr error
	for ctx.Err() == nil {
		resp, err := c.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				return string(b)
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

// memoryMiB reads QEMU's resident and proportional set sizes.
func memoryMiB(t *testing.T, pid int) (rss, pss int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			rss = kb / 1024
		case "Pss:":
			pss = kb / 1024
		}
	}
	return rss, pss
}
