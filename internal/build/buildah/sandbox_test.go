package buildah

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// The lab: a namespace the test makes, serving a private address that
// stands in for a database or another node on the host's network.
const (
	labNS   = "zwbt-lab"
	labVeth = "zwh-btlab"
	labHost = "10.224.9.1"
	labAddr = "10.224.9.2"
)

// counter counts the connections a listener accepts.
type counter struct{ n atomic.Int64 }

func (c *counter) serve(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		c.n.Add(1)
		conn.Close()
	}
}

func randHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startLab makes the lab namespace with a veth to the host and returns
// listeners on the private address at port 8080 (which builds must not
// reach) and 53 (the DNS server the builder is configured with, which
// they may: the control that the path works).
func startLab(t *testing.T) (denied, dns *counter) {
	t.Helper()
	ctx := context.Background()
	removeLab(t)
	t.Cleanup(func() { removeLab(t) })
	for _, c := range [][]string{
		{"netns", "add", labNS},
		{"link", "add", labVeth, "type", "veth", "peer", "name", "eth0", "netns", labNS},
		{"addr", "add", labHost + "/30", "dev", labVeth},
		{"link", "set", labVeth, "up"},
		{"-n", labNS, "addr", "add", labAddr + "/30", "dev", "eth0"},
		{"-n", labNS, "link", "set", "eth0", "up"},
		{"-n", labNS, "route", "add", "default", "via", labHost},
	} {
		if err := ip(ctx, c...); err != nil {
			t.Fatal(err)
		}
	}
	denied, dns = &counter{}, &counter{}
	inNetNS(t, labNS, func() {
		for _, x := range []struct {
			port string
			c    *counter
		}{{"8080", denied}, {"53", dns}} {
			l, err := net.Listen("tcp", net.JoinHostPort(labAddr, x.port))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			go x.c.serve(l)
		}
	})
	// Control: the host reaches the lab, so only the sandbox can stop a
	// build from reaching it.
	conn, err := net.DialTimeout("tcp", labAddr+":8080", 3*time.Second)
	if err != nil {
		t.Fatalf("the host cannot reach the lab: %v", err)
	}
	conn.Close()
	deadline := time.Now().Add(3 * time.Second)
	for denied.n.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	denied.n.Store(0)
	return denied, dns
}

// removeLab deletes the lab namespace and waits until its veth is gone
// too (the kernel removes it a moment after the namespace), so that the
// next test can make them again.
func removeLab(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ip(ctx, "netns", "del", labNS)
	ip(ctx, "link", "del", labVeth)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("/sys/class/net/" + labVeth); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("veth %s still there 10 s after its namespace was deleted", labVeth)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inNetNS runs fn on a thread switched into the named namespace; sockets
// opened there stay in it.
func inNetNS(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	fn()
}

// TestSandboxConfinesRunSteps runs RUN steps that try to read files the
// test planted on the host, reach a listener on the host, reach a private
// address, and find the push credentials; each must fail, while the same
// network path to the allowed DNS server works.
func TestSandboxConfinesRunSteps(t *testing.T) {
	secret := "planted-" + randHex(t)
	var planted []string
	for _, dir := range []string{"/root", "/tmp"} {
		p := filepath.Join(dir, "zeitwork-build-planted-"+randHex(t))
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(p) })
		planted = append(planted, p)
	}
	hostL, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	hostHits := &counter{}
	go hostHits.serve(hostL)
	hostPort := strconv.Itoa(hostL.Addr().(*net.TCPAddr).Port)
	labHits, dnsHits := startLab(t)

	e := newEnvWith(t, testLimits, func(c *Config) { c.DNS = []string{labAddr} })
	password := "zwpw-secret-" + randHex(t)
	dockerfile := fmt.Sprintf(`FROM %s
ARG HOSTPORT
RUN cat /proc/self/uid_map
RUN cat %s 2>&1; true
RUN GW=$(ip route | awk '/default/ {print $3}'); echo gateway $GW; for a in 127.0.0.1 $GW; do nc -w 3 $a $HOSTPORT </dev/null && echo reached-host-$a; done; true
RUN nc -w 3 %s 8080 </dev/null && echo reached-lab; true
RUN nc -w 3 %s 53 </dev/null && echo reached-dns; true
RUN P1=zwpw; env; tr '\0' '\n' </proc/1/environ; grep -rs "${P1}-secret" /etc /run /tmp /root /var /home /proc/self/environ && echo found-credentials; true
`, e.base, strings.Join(planted, " "), labAddr, labAddr)
	req := build.Request{
		Project:      "p1",
		ContextDir:   writeContext(t, map[string]string{"Dockerfile": dockerfile}),
		Args:         map[string]string{"HOSTPORT": hostPort},
		PushUser:     "zeitwork",
		PushPassword: password,
	}
	_, err, log := e.build(t, req, 2*time.Minute)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log)
	}

	if !strings.Contains(strings.Join(strings.Fields(log), " "), fmt.Sprintf("0 %d 65536", e.cfg.UIDBase)) {
		t.Errorf("RUN steps do not run as the build's host uid range from %d", e.cfg.UIDBase)
	}
	if strings.Contains(log, secret) {
		t.Errorf("a RUN step read a file planted on the host")
	}
	if ran(log, "reached-host-127.0.0.1") || hostHits.n.Load() > 0 {
		t.Errorf("a RUN step reached a listener on the host (%d connections)", hostHits.n.Load())
	}
	if ran(log, "reached-lab") || labHits.n.Load() > 0 {
		t.Errorf("a RUN step reached a private address (%d connections)", labHits.n.Load())
	}
	if !ran(log, "reached-dns") || dnsHits.n.Load() == 0 {
		t.Errorf("control: a RUN step did not reach the configured DNS server")
	}
	if strings.Contains(log, password) || ran(log, "found-credentials") {
		t.Errorf("a RUN step saw the push credentials")
	}
}

// TestSandboxMemoryLimit checks that a RUN step is stopped at the build's
// memory limit and the build fails with a message that says so.
func TestSandboxMemoryLimit(t *testing.T) {
	e := newEnv(t, jail.Limits{MemoryBytes: 64 << 20, CPUs: 1, Pids: 256})
	// Doubles a string to 512 MiB: far past the limit, bounded without it.
	dockerfile := "FROM " + e.base + "\nRUN awk 'BEGIN { s = \"x\"; for (i = 0; i < 29; i++) s = s s; print \"grew to\", length(s) }'\n"
	_, err, log := e.build(t, build.Request{Project: "p1", ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile})}, 2*time.Minute)
	if !errors.Is(err, build.ErrUser) {
		t.Fatalf("err = %v, want build.ErrUser\n%s", err, log)
	}
	if !strings.Contains(strings.SplitN(err.Error(), "\n", 2)[0], "memory limit") {
		t.Errorf("error does not name the memory limit: %v", err)
	}
}

// TestSandboxPidsLimit checks that RUN steps cannot start more processes
// than the build's limit.
func TestSandboxPidsLimit(t *testing.T) {
	e := newEnv(t, jail.Limits{MemoryBytes: 256 << 20, CPUs: 1, Pids: 32})
	dockerfile := "FROM " + e.base + "\nRUN n=0; while [ $n -lt 100 ]; do sleep 3 & n=$((n+1)); done; wait; echo started-all\n"
	_, _, log := e.build(t, build.Request{Project: "p1", ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile})}, 2*time.Minute)
	if ran(log, "started-all") || !strings.Contains(log, "can't fork") {
		t.Fatalf("100 processes started under a limit of 32:\n%s", log)
	}
}

// TestBuildCancel cancels a build in a RUN step: the error is not the
// tenant's, and nothing is left.
func TestBuildCancel(t *testing.T) {
	e := newEnv(t, testLimits)
	log := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for !ran(log.String(), "running-long") {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := e.b.Build(ctx, build.Request{
		ID: "c1", Project: "p1", Push: e.registry + "/acme/web:c1", Log: log,
		ContextDir: writeContext(t, map[string]string{"Dockerfile": "FROM " + e.base + "\nRUN echo running-long; sleep 120\n"}),
	})
	e.checkNothingLeft(t, "p1")
	if !errors.Is(err, context.Canceled) || errors.Is(err, build.ErrUser) {
		t.Fatalf("err = %v, want context.Canceled and not build.ErrUser\n%s", err, log)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("the cancelled build ran for %s", d)
	}
}
