package lb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// The header written per connection is what go-proxyproto (as the edge
// reads it) encodes, for IPv4, IPv6 and IPv4-mapped clients.
func TestProxyHeaderEncoding(t *testing.T) {
	for _, tc := range []struct{ name, src, dst string }{
		{"ipv4", "203.0.113.7:51234", "198.51.100.1:443"},
		{"ipv6", "[2001:db8::7]:51234", "[2001:db8::1]:80"},
		{"mapped", "[::ffff:203.0.113.7]:1", "[::ffff:198.51.100.1]:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
			want, err := proxyproto.HeaderProxyFromAddrs(2,
				net.TCPAddrFromAddrPort(netip.AddrPortFrom(src.Addr().Unmap(), src.Port())),
				net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port()))).Format()
			if err != nil {
				t.Fatal(err)
			}
			if got := appendProxyHeader(nil, src, dst); string(got) != string(want) {
				t.Fatalf("header\n%x\nwant\n%x", got, want)
			}
		})
	}
	var buf [proxyHeaderMax]byte
	src, dst := netip.MustParseAddrPort("[2001:db8::7]:1"), netip.MustParseAddrPort("[2001:db8::1]:2")
	if n := testing.AllocsPerRun(100, func() { appendProxyHeader(buf[:0], src, dst) }); n != 0 {
		t.Fatalf("%v allocations per header, want 0", n)
	}
}

// With two loops each has its own SO_REUSEPORT socket of the listener
// (not a shared descriptor), and both serve connections.
func TestLoopsShareConnections(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	bs, port := startBackends(t, 30, "a")
	cfg := testConfig(port, region("eu", bs...))
	l, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	lns, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer lns[0].Close()
	if err := l.startLoops(lns); err != nil {
		t.Fatal(err)
	}
	defer l.stopLoops()
	if len(l.loops) != 2 {
		t.Fatalf("%d loops, want 2", len(l.loops))
	}
	inodes := map[uint64]bool{}
	for _, lp := range l.loops {
		var st unix.Stat_t
		if err := unix.Fstat(lp.listeners[0].fd, &st); err != nil {
			t.Fatal(err)
		}
		inodes[st.Ino] = true
	}
	if len(inodes) != 2 {
		t.Fatal("the loops share one listening socket")
	}
	tl := &testLB{LB: l, addr: lns[0].Addr().String()}
	if got := tl.counts(t, 40); got["a"] != 40 {
		t.Fatalf("connections %v, want 40 on a", got)
	}
	for i, lp := range l.loops {
		if lp.served.Load() == 0 {
			t.Fatalf("loop %d accepted none of 40 connections", i)
		}
	}
	waitFor(t, "connections closed", func() bool { return l.Open() == 0 })
}

// The edge half-closes first, after more than the socket buffers hold:
// the client reads it all and its EOF, and may then still send, which
// the edge receives.
func TestEdgeHalfClosesFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.31.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	body := strings.Repeat("e", 1<<20)
	got := make(chan string, 1)
	go func() {
		pl := &proxyproto.Listener{Listener: ln}
		for { // skipping the health checks' connections, which send no header
			c, err := pl.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			if c.(*proxyproto.Conn).ProxyHeader() == nil {
				c.Close()
				continue
			}
			defer c.Close()
			io.WriteString(c, body)
			if tc, ok := c.(*proxyproto.Conn).TCPConn(); ok {
				tc.CloseWrite()
			}
			data, _ := io.ReadAll(c)
			got <- string(data)
			return
		}
	}()
	tl := startLB(t, testConfig(ln.Addr().(*net.TCPAddr).Port, Region{Name: "eu", Edges: []string{"127.0.31.1"}}))
	c, err := net.Dial("tcp", tl.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	down, err := io.ReadAll(c)
	if err != nil || len(down) != len(body) {
		t.Fatalf("read %d bytes (err %v), want %d and EOF", len(down), err, len(body))
	}
	if _, err := io.WriteString(c, "after eof"); err != nil {
		t.Fatalf("write after the edge's EOF: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	if s := <-got; s != "after eof" {
		t.Fatalf("edge got %q", s)
	}
}

// An edge that does not answer the connection attempt (its accept queue
// is full, so the SYN is dropped) is given up after connect_timeout,
// taken out, and the connection goes to the next edge.
func TestConnectTimeout(t *testing.T) {
	bs, port := startBackends(t, 32, "good")
	stuck := fullListener(t, fmt.Sprintf("127.0.32.2:%d", port))
	cfg := testConfig(port, Region{Name: "eu", Edges: []string{host(bs[0]), stuck}})
	cfg.Health.Interval = Duration(time.Hour) // only the first check runs
	cfg.ConnectTimeout = Duration(200 * time.Millisecond)
	tl := startLB(t, cfg)
	if got := tl.counts(t, 4); got["good"] != 4 {
		t.Fatalf("connections %v, want all on good", got)
	}
	tl.waitUp(t, net.JoinHostPort(stuck, fmt.Sprint(port)), false)
	if tl.stats.retries.Load() == 0 {
		t.Fatal("no retry counted")
	}
}

// fullListener listens on addr with a backlog of one and fills it: the
// kernel drops further SYNs.
func fullListener(t *testing.T, addr string) string {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	filler, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("a full accept queue took another connection")
	}
	return ap.Addr().String()
}

// An edge named by host name is connected to at the address its checks
// resolved.
func TestEdgeByHostName(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	b := &testBackend{name: "named", addr: fmt.Sprintf("127.0.0.1:%d", port)}
	b.start(t)
	tl := startLB(t, testConfig(port, Region{Name: "eu", Edges: []string{"localhost"}}))
	waitFor(t, "localhost resolved", func() bool { return tl.all[0].target.Load() != nil })
	if c := tl.dial(t); c.backend != "named" {
		t.Fatalf("connected to %q", c.backend)
	}
}

// A listener made elsewhere (no SO_REUSEPORT) is shared by the loops,
// each with its own descriptor, and still serves; the drain closes it.
func TestSharedListener(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	bs, port := startBackends(t, 33, "a")
	cfg := testConfig(port, region("eu", bs...))
	l, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tl := &testLB{LB: l, addr: ln.Addr().String(), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(tl.done)
		l.Serve(ctx, []net.Listener{ln})
	}()
	defer func() { cancel(); <-tl.done }()
	if got := tl.counts(t, 10); got["a"] != 10 {
		t.Fatalf("connections %v, want 10 on a", got)
	}
	cancel()
	<-tl.done
	if c, err := net.DialTimeout("tcp", tl.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("listener open after Serve returned")
	}
}
