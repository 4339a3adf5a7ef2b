package edge

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/zeitwork/zeitwork/internal/api"
)

// bytesConn is a connection whose peer sent data and closed: no
// goroutines or blocking, so that the fuzzer runs fast and the same input
// always takes the same path.
type bytesConn struct {
	*bytes.Reader
	remote net.Addr
}

func (c bytesConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c bytesConn) Close() error                       { return nil }
func (c bytesConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c bytesConn) RemoteAddr() net.Addr               { return c.remote }
func (c bytesConn) SetDeadline(t time.Time) error      { return nil }
func (c bytesConn) SetReadDeadline(t time.Time) error  { return nil }
func (c bytesConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzProxyHeader feeds arbitrary connection openings to the edge's
// connection wrapper, from a trusted load balancer and from a client. It
// must never panic; an untrusted peer is always its own address; and
// whatever follows an accepted header reaches the server unchanged.
func FuzzProxyHeader(f *testing.F) {
	lb := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 4000}
	for _, h := range []*proxyproto.Header{
		proxyproto.HeaderProxyFromAddrs(1, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5555}, lb),
		proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5555}, lb),
		proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 5555}, lb),
		{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC},
	} {
		b, err := h.Format()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append(b, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"...), true)
		f.Add(append(b, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"...), false)
	}
	f.Add([]byte("PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n\r\n"), true)
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n"), true)
	f.Add([]byte("PROXY TCP6 ::1 ::1 1 1 extra\r\n"), true)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false)
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"), true)

	trusted := New(Config{Source: NewStaticSource(api.RouteTable{}), ReadHeaderTimeout: time.Second,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}}, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, data []byte, fromLB bool) {
		peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 10), Port: 4000}
		if fromLB {
			peer = lb
		}
		g := trusted.wrap(bytesConn{bytes.NewReader(data), peer})
		defer g.Close()
		addr := g.RemoteAddr()
		rest, err := io.ReadAll(g)
		if !fromLB && addr.String() != peer.String() {
			t.Fatalf("untrusted peer became %v", addr)
		}
		if g.perr != nil {
			return // refused: the server closes the connection
		}
		if err != nil {
			t.Fatalf("read after an accepted header: %v", err)
		}
		if !bytes.HasSuffix(data, rest) {
			t.Fatalf("the stream after the header changed: %q is not a suffix of %q", rest, data)
		}
		if fromLB && !g.client.IsValid() {
			t.Fatalf("accepted header left no client address (%v)", addr)
		}
	})
}
