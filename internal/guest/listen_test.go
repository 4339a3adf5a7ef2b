package guest

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

// TestListenProbeSeesListeners asks the host kernel's sock_diag, as the
// init asks the guest's: a listener on a port is seen, over IPv4 and IPv6,
// and a closed one or another port is not.
func TestListenProbeSeesListeners(t *testing.T) {
	p, err := newListenProbe()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	// "tcp" on [::] is a dual-stack IPv6 socket (IPV6_V6ONLY off), which
	// takes IPv4 connections too.
	for _, tc := range []struct{ network, addr string }{{"tcp4", "0.0.0.0:0"}, {"tcp", "[::]:0"}} {
		network := tc.network
		t.Run(tc.addr, func(t *testing.T) {
			l, err := net.Listen(network, tc.addr)
			if err != nil {
				t.Fatalf("no %s here (CI has both): %v", network, err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			if ok, err := p.listening(port); err != nil || !ok {
				t.Errorf("listening(%d) = %v, %v with a listener", port, ok, err)
			}
			// A connection to it is not a listener on the client's port.
			c, err := net.Dial(network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cport := c.LocalAddr().(*net.TCPAddr).Port
			if ok, _ := p.listening(cport); ok {
				t.Errorf("listening(%d) = true for a connected socket's port", cport)
			}
			l.Close()
			if ok, err := p.listening(port); err != nil || ok {
				t.Errorf("listening(%d) = %v, %v after close", port, ok, err)
			}
		})
	}
}

// TestListenProbeTellsLoopback: a listener on loopback only is not one the
// host can reach, and the probe says where it listens; one on the any
// address is.
func TestListenProbeTellsLoopback(t *testing.T) {
	p, err := newListenProbe()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	for _, tc := range []struct{ network, addr, loopback string }{
		{"tcp4", "127.0.0.1:0", "127.0.0.1"},
		{"tcp6", "[::1]:0", "::1"},
	} {
		l, err := net.Listen(tc.network, tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		got, err := p.listeners(port)
		if err != nil || got != (listeners{loopback: tc.loopback}) {
			t.Errorf("%s: listeners(%d) = %+v, %v; want loopback %s only", tc.network, port, got, err, tc.loopback)
		}
	}
	any, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer any.Close()
	if got, err := p.listeners(any.Addr().(*net.TCPAddr).Port); err != nil || !got.reachable {
		t.Errorf("listener on the any address: %+v, %v; want reachable", got, err)
	}
}

// TestListenProbeTellsV6Only: an IPv6 socket with IPV6_V6ONLY on the any
// address (Go's "tcp6", nginx's `listen [::]:80;` alone) takes no IPv4
// connections, so the host cannot reach it; the probe says so from the
// kernel's INET_DIAG_SKV6ONLY. A dual-stack one next to it is reachable.
func TestListenProbeTellsV6Only(t *testing.T) {
	p, err := newListenProbe()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	l, err := net.Listen("tcp6", "[::]:0")
	if err != nil {
		t.Fatalf("no tcp6 here (CI has it): %v", err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if got, err := p.listeners(port); err != nil || got != (listeners{v6only: "::"}) {
		t.Errorf("listeners(%d) = %+v, %v; want IPv6 only on ::", port, got, err)
	}
	if at, ok, err := p.elsewhere(port + 1); err != nil || (ok && int(at.Port()) == port) {
		t.Errorf("elsewhere(%d) = %v, %v, %v; an IPv6-only listener is not one others can reach", port+1, at, ok, err)
	}
	dual, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dual.Close()
	if got, err := p.listeners(dual.Addr().(*net.TCPAddr).Port); err != nil || got != (listeners{reachable: true}) {
		t.Errorf("dual-stack listener: %+v, %v; want reachable", got, err)
	}
}

// TestParseDiag reads netlink batches: a listener on the port, one on
// another port, a socket of another state, the end of the dump and an
// error.
func TestParseDiag(t *testing.T) {
	msg := func(typ uint16, body []byte) []byte {
		b := make([]byte, 16+len(body))
		b[0] = byte(len(b))
		b[4], b[5] = byte(typ), byte(typ>>8)
		copy(b[16:], body)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	sock := func(state byte, port int) []byte {
		return msg(20, []byte{2, state, 0, 0, byte(port >> 8), byte(port)})
	}
	// sockAt is a listener with its local address (family, 16 bytes).
	sockAt := func(family byte, port int, ip string) []byte {
		body := make([]byte, 72)
		body[0], body[1], body[4], body[5] = family, 10, byte(port>>8), byte(port)
		a := netip.MustParseAddr(ip)
		copy(body[8:], a.AsSlice())
		return msg(20, body)
	}
	// sockV6Only is an IPv6 listener with INET_DIAG_SKV6ONLY (v), after
	// another attribute (INET_DIAG_SHUTDOWN) as the kernel may send.
	sockV6Only := func(ip string, v byte) []byte {
		body := make([]byte, 72)
		body[0], body[1], body[4], body[5] = 10, 10, 8080>>8, 8080&0xff
		copy(body[8:], netip.MustParseAddr(ip).AsSlice())
		body = append(body, 5, 0, 8, 0, 0, 0, 0, 0) // shutdown, padded
		body = append(body, 5, 0, 11, 0, v, 0, 0, 0)
		return msg(20, body)
	}
	reachable := listeners{reachable: true}
	done := msg(3, []byte{0, 0, 0, 0})
	for _, tc := range []struct {
		name    string
		batch   []byte
		found   listeners
		end     bool
		wantErr bool
	}{
		{"listener", append(sock(10, 8080), done...), reachable, true, false},
		{"other port", append(sock(10, 8081), done...), listeners{}, true, false},
		{"not listening", append(sock(1, 8080), done...), listeners{}, true, false},
		{"more to come", sock(10, 8080), reachable, false, false},
		{"any address", append(sockAt(2, 8080, "0.0.0.0"), done...), reachable, true, false},
		{"eth0 address", append(sockAt(2, 8080, "10.0.0.2"), done...), reachable, true, false},
		{"v4 loopback", append(sockAt(2, 8080, "127.0.0.1"), done...), listeners{loopback: "127.0.0.1"}, true, false},
		{"v6 loopback", append(sockAt(10, 8080, "::1"), done...), listeners{loopback: "::1"}, true, false},
		{"v6 any", append(sockAt(10, 8080, "::"), done...), reachable, true, false},
		{"loopback and any", append(append(sockAt(2, 8080, "127.0.0.1"), sockAt(2, 8080, "0.0.0.0")...), done...),
			listeners{reachable: true, loopback: "127.0.0.1"}, true, false},
		{"v6 any, ipv6only", append(sockV6Only("::", 1), done...), listeners{v6only: "::"}, true, false},
		{"v6 any, dual-stack", append(sockV6Only("::", 0), done...), reachable, true, false},
		{"v6 loopback, ipv6only", append(sockV6Only("::1", 1), done...), listeners{loopback: "::1"}, true, false},
		{"ipv6only and v4 any", append(append(sockV6Only("::", 1), sockAt(2, 8080, "0.0.0.0")...), done...),
			listeners{reachable: true, v6only: "::"}, true, false},
		{"error", msg(2, []byte{0xfe, 0xff, 0xff, 0xff}), listeners{}, true, true},
		{"bad length", []byte{200, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, listeners{}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found, end, err := parseDiag(tc.batch, 8080)
			if found != tc.found || end != tc.end || (err != nil) != tc.wantErr {
				t.Errorf("parseDiag = %v, %v, %v; want %v, %v, error %v", found, end, err, tc.found, tc.end, tc.wantErr)
			}
		})
	}
}

// TestParseDiagAll reads a dump of every listener: those others can reach,
// with their ports; loopback and IPv6-only ones are left out.
func TestParseDiagAll(t *testing.T) {
	msg := func(body []byte) []byte {
		b := make([]byte, 16+len(body))
		b[0] = byte(len(b))
		b[4] = 20
		return append(b[:16], body...)
	}
	sockAt := func(family byte, state byte, port int, ip string) []byte {
		body := make([]byte, 72)
		body[0], body[1], body[4], body[5] = family, state, byte(port>>8), byte(port)
		copy(body[8:], netip.MustParseAddr(ip).AsSlice())
		return msg(body)
	}
	done := []byte{20, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	var batch []byte
	batch = append(batch, sockAt(2, 10, 9090, "127.0.0.1")...)
	batch = append(batch, sockAt(2, 10, 80, "0.0.0.0")...)
	batch = append(batch, sockAt(2, 1, 5000, "10.0.0.2")...) // established
	batch = append(batch, sockAt(10, 10, 3000, "::")...)
	v6only := make([]byte, 72, 80)
	v6only[0], v6only[1], v6only[4], v6only[5] = 10, 10, 0x1f, 0x90 // [::]:8080
	batch = append(batch, msg(append(v6only, 5, 0, 11, 0, 1, 0, 0, 0))...)
	batch = append(batch, done...)
	got, end, err := parseDiagAll(batch)
	want := []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:80"), netip.MustParseAddrPort("[::]:3000")}
	if err != nil || !end || !slices.Equal(got, want) {
		t.Errorf("parseDiagAll = %v, %v, %v; want %v, done", got, end, err, want)
	}
}

// TestListenProbeElsewhere asks the host's sock_diag for a listener on
// another port than the one given.
func TestListenProbeElsewhere(t *testing.T) {
	p, err := newListenProbe()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	at, ok, err := p.elsewhere(port + 1)
	if err != nil || !ok || int(at.Port()) == port+1 {
		t.Errorf("elsewhere(%d) = %v, %v, %v; want a listener on another port", port+1, at, ok, err)
	}
}
