package lb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// testBackend stands in for an edge: behind a PROXY protocol listener
// (the header is required), it greets each connection with
// "<name> <client address> <header version>\n", then reads until EOF and
// answers "got <data>" before closing: a client that half-closes still
// gets its answer.
type testBackend struct {
	name, addr string
	mu         sync.Mutex
	ln         net.Listener
}

func (b *testBackend) start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for { // the port may be briefly held by the last listener's connections
		if ln, err = net.Listen("tcp", b.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	pl := &proxyproto.Listener{Listener: ln, Policy: func(net.Addr) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
	b.mu.Lock()
	b.ln = pl
	b.mu.Unlock()
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	t.Cleanup(b.stop)
}

func (b *testBackend) serve(c net.Conn) {
	defer c.Close()
	pc := c.(*proxyproto.Conn)
	version := 0
	if h := pc.ProxyHeader(); h != nil {
		version = int(h.Version)
	}
	fmt.Fprintf(c, "%s %s %d\n", b.name, c.RemoteAddr(), version)
	data, _ := io.ReadAll(c)
	fmt.Fprintf(c, "got %s", data)
}

// stop closes the listener: new connections are refused.
func (b *testBackend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln != nil {
		b.ln.Close()
		b.ln = nil
	}
}

// startBackends starts n backends on distinct loopback addresses
// 127.0.<net>.1.. with one port, as edges on separate hosts would be.
func startBackends(t testing.TB, netID int, names ...string) ([]*testBackend, int) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.1:0", netID))
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for i := 2; i <= len(names); i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.%d:%d", netID, i, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) < len(names) {
			continue
		}
		var bs []*testBackend
		for i, n := range names {
			b := &testBackend{name: n, addr: fmt.Sprintf("127.0.%d.%d:%d", netID, i+1, port)}
			b.start(t)
			bs = append(bs, b)
		}
		return bs, port
	}
	t.Fatal("no port free on every backend address")
	return nil, 0
}

func host(b *testBackend) string {
	h, _, _ := net.SplitHostPort(b.addr)
	return h
}

// testConfig is a configuration with one loopback listener relaying to
// port, fast health checks, and the given regions (the first is own).
func testConfig(port int, regions ...Region) Config {
	c := Config{
		Region:    regions[0].Name,
		Listeners: []Listener{{Listen: "127.0.0.1:0", EdgePort: port}},
		Regions:   regions,
		Health:    Health{Interval: Duration(50 * time.Millisecond), Timeout: Duration(2 * time.Second), Rise: 2, Fall: 2},
	}
	c.setDefaults()
	return c
}

// testLB is a running load balancer and its listener's address.
type testLB struct {
	*LB
	addr string
	stop func() // begins the drain; Serve's end is awaited by done
	done chan struct{}
}

func startLB(t testing.TB, cfg Config) *testLB {
	t.Helper()
	l, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	lns, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tl := &testLB{LB: l, addr: lns[0].Addr().String(), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(tl.done)
		l.Serve(ctx, lns)
	}()
	t.Cleanup(func() { cancel(); <-tl.done })
	return tl
}

// conn is a client connection through the load balancer.
type conn struct {
	*net.TCPConn
	r       *bufio.Reader
	backend string // the greeting's name
	client  string // the greeting's client address
	version string // the greeting's PROXY header version
}

// dialFrom connects to the load balancer from local (a loopback IP, or
// "" for any) and reads the backend's greeting.
func (tl *testLB) dialFrom(t testing.TB, local string) *conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", tl.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cn := &conn{TCPConn: c.(*net.TCPConn), r: bufio.NewReader(c)}
	line, err := cn.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read greeting: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		t.Fatalf("greeting %q", line)
	}
	cn.backend, cn.client, cn.version = f[0], f[1], f[2]
	return cn
}

func (tl *testLB) dial(t testing.TB) *conn { return tl.dialFrom(t, "") }

// exchange sends data, half-closes and returns the backend's answer.
func (c *conn) exchange(t testing.TB, data string) string {
	t.Helper()
	if _, err := c.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c.r)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return string(b)
}

// counts makes n connections in turn and counts them by backend.
func (tl *testLB) counts(t testing.TB, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		c := tl.dial(t)
		got[c.backend]++
		c.Close()
	}
	return got
}

// waitUp waits until the backend at addr is up (or down).
func (tl *testLB) waitUp(t testing.TB, addr string, up bool) {
	t.Helper()
	waitFor(t, "backend "+addr+" up="+strconv.FormatBool(up), func() bool {
		for _, b := range tl.Backends() {
			if b.Addr == addr {
				return b.Up == up
			}
		}
		return false
	})
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
