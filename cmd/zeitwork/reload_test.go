package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// lockedBuffer collects a process's log while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRole runs the real binary with args until the test ends.
func startRole(t *testing.T, bin string, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, logs
}

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, logs *lockedBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s\n%s", what, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr is a loopback address with a port free for TCP and UDP.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", u.LocalAddr().String())
		u.Close()
		if err == nil {
			l.Close()
			return u.LocalAddr().String()
		}
	}
	t.Fatal("no free port")
	return ""
}

// The real lb and dns processes reload their files on SIGHUP: the new
// lists answer at once, an open connection survives, and a broken file
// is logged and leaves the running configuration in force.
func TestReloadOnSIGHUP(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "zeitwork")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	t.Run("lb", func(t *testing.T) { testLBReload(t, bin) })
	t.Run("dns", func(t *testing.T) { testDNSReload(t, bin) })
}

// nameEdge accepts connections on 127.0.0.<n>:port and greets each with
// its name (after skipping the PROXY header the lb sends).
func nameEdge(t *testing.T, ip, port, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
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
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", name)
				io.Copy(io.Discard, c)
			}()
		}
	}()
}

func testLBReload(t *testing.T, bin string) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(probe.Addr().String())
	probe.Close()
	nameEdge(t, "127.0.0.1", port, "a")
	nameEdge(t, "127.0.0.2", port, "b")
	lbAddr := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "lb.json")
	write := func(edge string) {
		os.WriteFile(cfgPath, fmt.Appendf(nil, `{"region":"r","listeners":[{"listen":%q,"edge_port":%s}],
			"regions":[{"name":"r","edges":[%q]}],"proxy_protocol":false}`, lbAddr, port, edge), 0o600)
	}
	write("127.0.0.1")
	cmd, logs := startRole(t, bin, "lb", "--config", cfgPath)
	greet := func() (string, net.Conn) {
		c, err := net.DialTimeout("tcp", lbAddr, time.Second)
		if err != nil {
			return "", nil
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var name string
		fmt.Fscanln(c, &name)
		return name, c
	}
	var open net.Conn
	eventually(t, "lb relays to a", logs, func() bool {
		name, c := greet()
		if name == "a" {
			open = c
			return true
		}
		if c != nil {
			c.Close()
		}
		return false
	})
	defer open.Close()

	write("127.0.0.2")
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "lb relays to b after SIGHUP", logs, func() bool {
		name, c := greet()
		if c != nil {
			c.Close()
		}
		return name == "b"
	})
	if _, err := open.Write([]byte("x")); err != nil {
		t.Fatalf("connection open across the reload: %v", err)
	}
	if !strings.Contains(logs.String(), "configuration reloaded") {
		t.Errorf("no reload logged:\n%s", logs.String())
	}

	os.WriteFile(cfgPath, []byte(`{"region":`), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "the broken file logged", logs, func() bool {
		return strings.Contains(logs.String(), "reload failed; the running configuration stays in force")
	})
	if name, c := greet(); name != "b" {
		t.Fatalf("after a broken file: relayed to %q, want b", name)
	} else {
		c.Close()
	}
}

func testDNSReload(t *testing.T, bin string) {
	addr := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "dns.json")
	write := func(lb string) {
		os.WriteFile(cfgPath, fmt.Appendf(nil, `{"zone": "apps.test", "nameservers": [{"name": "ns1.example.net"}],
			"regions": [{"name": "eu", "latitude": 50, "longitude": 8, "load_balancers": [%q]}]}`, lb), 0o600)
	}
	write("127.0.0.10")
	cmd, logs := startRole(t, bin, "dns", "--config", cfgPath, "--listen", addr)
	answer := func() string {
		m := new(dns.Msg)
		m.SetQuestion("web.apps.test.", dns.TypeA)
		in, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(m, addr)
		if err != nil || len(in.Answer) == 0 {
			return ""
		}
		return in.Answer[0].(*dns.A).A.String()
	}
	// Nothing listens on the balancers' health port: the server fails open and
	// answers every configured balancer, which is what the test reads.
	eventually(t, "dns answers 127.0.0.10", logs, func() bool { return answer() == "127.0.0.10" })
	write("127.0.0.20")
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "dns answers 127.0.0.20 after SIGHUP", logs, func() bool { return answer() == "127.0.0.20" })

	os.WriteFile(cfgPath, []byte(`{"zone": "apps.test", "regions": []}`), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "the bad file logged", logs, func() bool {
		return strings.Contains(logs.String(), "reload failed; the running configuration stays in force")
	})
	if got := answer(); got != "127.0.0.20" {
		t.Fatalf("after a bad file: %q, want 127.0.0.20", got)
	}
}
