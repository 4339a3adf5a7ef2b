package lb

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

func region(name string, bs ...*testBackend) Region {
	r := Region{Name: name}
	for _, b := range bs {
		r.Edges = append(r.Edges, host(b))
	}
	return r
}

func TestRoundRobin(t *testing.T) {
	bs, port := startBackends(t, 11, "a", "b", "c")
	tl := startLB(t, testConfig(port, region("eu", bs...)))
	got := tl.counts(t, 30)
	for _, n := range []string{"a", "b", "c"} {
		if got[n] != 10 {
			t.Fatalf("connections by backend %v, want 10 each", got)
		}
	}
}

// Least-conn sends new connections where fewest are open: after the two
// held on one backend close, the next two both go there (round-robin
// would spread them).
func TestLeastConn(t *testing.T) {
	bs, port := startBackends(t, 12, "a", "b", "c")
	cfg := testConfig(port, region("eu", bs...))
	cfg.Balance = LeastConn
	tl := startLB(t, cfg)
	held := map[string][]*conn{}
	for range 6 {
		c := tl.dial(t)
		held[c.backend] = append(held[c.backend], c)
	}
	for n, cs := range held {
		if len(cs) != 2 {
			t.Fatalf("backend %s has %d of 6 connections, want 2", n, len(cs))
		}
	}
	for _, c := range held["b"] {
		c.exchange(t, "x")
	}
	waitFor(t, "b's connections closed", func() bool { return tl.active(bs[1].addr) == 0 })
	for range 2 {
		if c := tl.dial(t); c.backend != "b" {
			t.Fatalf("new connection went to %s, want b (fewest open)", c.backend)
		}
	}
}

func (tl *testLB) active(addr string) int64 {
	for _, b := range tl.Backends() {
		if b.Addr == addr {
			return b.Active
		}
	}
	return -1
}

// A backend failing its checks is taken out; back up, it is used again.
func TestHealthChecks(t *testing.T) {
	bs, port := startBackends(t, 13, "a", "b")
	tl := startLB(t, testConfig(port, region("eu", bs...)))
	bs[0].stop()
	tl.waitUp(t, bs[0].addr, false)
	if got := tl.counts(t, 6); got["b"] != 6 || tl.stats.retries.Load() != 0 {
		t.Fatalf("with a down: connections %v and %d retries, want all on b, none tried on a", got, tl.stats.retries.Load())
	}
	bs[0].start(t)
	tl.waitUp(t, bs[0].addr, true)
	if got := tl.counts(t, 6); got["a"] != 3 || got["b"] != 3 {
		t.Fatalf("with a back: connections %v, want 3 each", got)
	}
}

// A connection to a backend that died since its last check is retried on
// another: the client sees nothing of it.
func TestRetryBeforeFirstByte(t *testing.T) {
	bs, port := startBackends(t, 14, "a", "b")
	cfg := testConfig(port, region("eu", bs...))
	cfg.Health.Interval = Duration(time.Hour) // only the first check runs
	tl := startLB(t, cfg)
	bs[0].stop()
	if got := tl.counts(t, 4); got["b"] != 4 {
		t.Fatalf("connections %v, want all on b", got)
	}
	tl.waitUp(t, bs[0].addr, false)
	if tl.stats.retries.Load() == 0 {
		t.Fatal("no retry counted")
	}
}

// With no healthy edge in its region, connections go to the next region
// in the configured order, and back when the region recovers.
func TestSpillToNextRegion(t *testing.T) {
	bs, port := startBackends(t, 15, "eu1", "us1", "ap1")
	tl := startLB(t, testConfig(port, region("eu", bs[0]), region("us", bs[1]), region("ap", bs[2])))
	bs[0].stop()
	tl.waitUp(t, bs[0].addr, false)
	if got := tl.counts(t, 4); got["us1"] != 4 {
		t.Fatalf("eu down: connections %v, want all on us1", got)
	}
	bs[1].stop()
	tl.waitUp(t, bs[1].addr, false)
	if got := tl.counts(t, 2); got["ap1"] != 2 {
		t.Fatalf("eu and us down: connections %v, want all on ap1", got)
	}
	bs[0].start(t)
	tl.waitUp(t, bs[0].addr, true)
	if got := tl.counts(t, 2); got["eu1"] != 2 {
		t.Fatalf("eu back: connections %v, want all on eu1", got)
	}
	if tl.stats.spilled.Load() != 6 {
		t.Fatalf("spilled %d, want 6", tl.stats.spilled.Load())
	}
}

// The backend reads a PROXY v2 header naming the client's own address.
func TestProxyHeaderNamesClient(t *testing.T) {
	bs, port := startBackends(t, 16, "a")
	tl := startLB(t, testConfig(port, region("eu", bs...)))
	c := tl.dialFrom(t, "127.0.0.77")
	if c.version != "2" || c.client != c.LocalAddr().String() {
		t.Fatalf("backend saw client %s (PROXY v%s), want %s (v2)", c.client, c.version, c.LocalAddr())
	}
}

// A client that half-closes still gets the whole answer, sent after its EOF.
func TestHalfClose(t *testing.T) {
	bs, port := startBackends(t, 17, "a")
	tl := startLB(t, testConfig(port, region("eu", bs...)))
	body := strings.Repeat("z", 1<<20)
	if got := tl.dial(t).exchange(t, body); got != "got "+body {
		t.Fatalf("answer of %d bytes, want %d", len(got), len(body)+4)
	}
}

// On shutdown the load balancer stops accepting at once; an open
// connection goes on until it ends, within the drain deadline.
func TestDrain(t *testing.T) {
	bs, port := startBackends(t, 18, "a")
	tl := startLB(t, testConfig(port, region("eu", bs...)))
	c := tl.dial(t)
	tl.stop()
	waitFor(t, "listener closed", func() bool {
		d, err := net.DialTimeout("tcp", tl.addr, time.Second)
		if err == nil {
			d.Close()
		}
		return err != nil
	})
	select {
	case <-tl.done:
		t.Fatal("Serve returned with a connection open")
	default:
	}
	if got := c.exchange(t, "last"); got != "got last" {
		t.Fatalf("answer %q during drain", got)
	}
	<-tl.done
}

// A connection still open at the drain deadline is closed.
func TestDrainDeadline(t *testing.T) {
	bs, port := startBackends(t, 19, "a")
	cfg := testConfig(port, region("eu", bs...))
	cfg.DrainTimeout = Duration(100 * time.Millisecond)
	tl := startLB(t, cfg)
	c := tl.dial(t)
	tl.stop()
	<-tl.done
	if _, err := io.ReadAll(c.r); err != nil {
		t.Fatalf("read after drain: %v", err)
	}
}

// A connection silent both ways is closed after the idle timeout; one
// with bytes flowing one way only is not.
func TestIdleTimeout(t *testing.T) {
	bs, port := startBackends(t, 20, "a")
	cfg := testConfig(port, region("eu", bs...))
	cfg.IdleTimeout = Duration(400 * time.Millisecond)
	tl := startLB(t, cfg)

	busy := tl.dial(t)
	for range 25 { // 1 s of uploading, the answer only at the end
		if _, err := busy.Write([]byte("x")); err != nil {
			t.Fatalf("write to a busy connection: %v", err)
		}
		time.Sleep(40 * time.Millisecond)
	}
	if got := busy.exchange(t, "y"); got != "got "+strings.Repeat("x", 25)+"y" {
		t.Fatalf("busy connection answer %q", got)
	}

	idle := tl.dial(t)
	start := time.Now()
	if _, err := io.ReadAll(idle.r); err != nil {
		t.Fatalf("idle connection: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("idle connection not closed")
	}
}

// Past MaxConns a new connection is closed unserved.
func TestMaxConns(t *testing.T) {
	bs, port := startBackends(t, 21, "a")
	cfg := testConfig(port, region("eu", bs...))
	cfg.MaxConns = 1
	tl := startLB(t, cfg)
	tl.dial(t)
	c, err := net.Dial("tcp", tl.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Fatalf("over the cap got %q, want a close", b)
	}
	if tl.stats.refusedCap.Load() != 1 {
		t.Fatal("refusal not counted")
	}
}

// An HTTP check (after a PROXY LOCAL header) takes out an edge that
// answers 5xx though it accepts connections, and brings it back at 200.
func TestHTTPHealthCheck(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := &proxyproto.Listener{Listener: ln, Policy: func(net.Addr) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
	paths := make(chan string, 100)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case paths <- r.URL.Path:
		default:
		}
		w.WriteHeader(int(status.Load()))
	})}
	go srv.Serve(pl)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := testConfig(port, Region{Name: "eu", Edges: []string{"127.0.0.1"}})
	cfg.Health.HTTPPath = "/healthz"
	tl := startLB(t, cfg)
	addr := ln.Addr().String()
	select {
	case p := <-paths:
		if p != "/healthz" {
			t.Fatalf("checked path %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no HTTP check arrived")
	}
	status.Store(503)
	tl.waitUp(t, addr, false)
	status.Store(200)
	tl.waitUp(t, addr, true)
}
