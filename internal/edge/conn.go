package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
)

// Listener wraps ln for the edge's server (NewServer): it counts
// connections against Config.MaxConns and Config.MaxConnsPerClient and,
// for peers in Config.TrustedProxies, reads the client's address from a
// PROXY protocol header (v1 or v2), which such a peer must then send.
// Any other peer is its own client address; a PROXY header from it is
// refused by closing the connection, so that no client can claim another
// client's address.
func (e *Edge) Listener(ln net.Listener) net.Listener {
	return &guardListener{Listener: ln, e: e}
}

type guardListener struct {
	net.Listener
	e *Edge
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.e.wrap(c), nil
}

// wrap counts c against the total cap and reads a PROXY header on it when
// the listener trusts any load balancer.
func (e *Edge) wrap(c net.Conn) *guardConn {
	g := &guardConn{Conn: c, e: e}
	if e.conns.total.Add(1) > int64(e.cfg.MaxConns) {
		g.refuse(refusedConns)
	}
	if len(e.cfg.TrustedProxies) > 0 {
		policy := proxyproto.REJECT
		if e.trustedProxy(c.RemoteAddr()) {
			policy = proxyproto.REQUIRE
		}
		g.proxied = proxyproto.NewConn(c, proxyproto.WithPolicy(policy),
			proxyproto.SetReadHeaderTimeout(e.cfg.ReadHeaderTimeout))
		g.Conn = g.proxied
	}
	return g
}

// trustedProxy reports whether the peer at a may speak PROXY protocol.
func (e *Edge) trustedProxy(a net.Addr) bool {
	ip := addrIP(a)
	if !ip.IsValid() {
		return false
	}
	for _, p := range e.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrIP is a's IP address, IPv4 unmapped; invalid for non-IP addresses.
func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// guardConn is one client connection: its client address, once known,
// and whether it is over a connection cap. The server answers the first
// request of a connection over a cap with 429 or 503 and closes it
// (Edge.serve), which tells the client why, unlike a bare close.
type guardConn struct {
	net.Conn
	e       *Edge
	proxied *proxyproto.Conn // nil without PROXY protocol

	once    sync.Once
	addr    net.Addr   // the client's: from the PROXY header or the socket
	client  netip.Addr // addr's IP, keyed by clientPrefix
	perr    error      // a refused or malformed PROXY header
	counted bool       // counted in e.conns.perClient

	refused atomic.Int32 // a refusedXxx reason, or 0
	closed  sync.Once

	// For counting slow requests: whether a read deadline of net/http's
	// (header or idle timeout) is armed, and bytes read since the last
	// request ended (net/http then sets a deadline in the past).
	armed     atomic.Bool
	readSince atomic.Int64
	slow      atomic.Bool
	upgraded  atomic.Bool

	// tlsState is the TLS connection's state once the fast path has
	// handshaken it (nil before, and without TLS): a request it hands off
	// gets r.TLS from it, since net/http sees no *tls.Conn then.
	tlsState atomic.Pointer[tls.ConnectionState]
}

// refusedGrace bounds how long a refused connection may take to send the
// request it is refused: its answer needs no more.
const refusedGrace = time.Second

func (g *guardConn) refuse(reason int) {
	g.refused.CompareAndSwap(0, int32(reason))
}

// resolve reads the PROXY header, if this connection has one, and counts
// the connection for its client. net/http calls RemoteAddr first thing
// on the connection's own goroutine, so a slow header never holds up
// Accept.
func (g *guardConn) resolve() {
	g.once.Do(func() {
		g.addr = g.Conn.RemoteAddr()
		if g.proxied != nil {
			// A zero-length read processes the header and reports its error.
			if _, err := g.proxied.Read(nil); err != nil {
				g.perr = err
				if strings.HasPrefix(err.Error(), "proxyproto:") {
					// The package's errors all say so; anything else is
					// the connection ending, not a refusal.
					g.e.stats.refused[refusedProxy].Add(1)
				}
				g.addr = g.proxied.Raw().RemoteAddr()
				return
			}
		}
		g.client = addrIP(g.addr)
		if g.refused.Load() != 0 {
			return // over the total cap: not counted for its client
		}
		g.counted = true
		if g.e.conns.add(clientPrefix(g.client)) > g.e.cfg.MaxConnsPerClient {
			g.refuse(refusedClientConns)
		}
	})
}

func (g *guardConn) RemoteAddr() net.Addr {
	g.resolve()
	return g.addr
}

func (g *guardConn) Read(p []byte) (int, error) {
	g.resolve()
	if g.perr != nil {
		return 0, g.perr
	}
	n, err := g.Conn.Read(p)
	if g.readSince.Add(int64(n)) > 0 && err != nil && g.armed.Load() && !g.upgraded.Load() &&
		errors.Is(err, os.ErrDeadlineExceeded) && g.slow.CompareAndSwap(false, true) {
		// A request begun and not finished in time: slowloris, or a
		// client too slow to serve. An idle connection's close is not.
		g.e.stats.refused[refusedSlowHeader].Add(1)
	}
	return n, err
}

// SetReadDeadline keeps a refused connection's deadline short, whatever
// net/http asks for, and notes which deadline is set for Read.
func (g *guardConn) SetReadDeadline(t time.Time) error {
	now := time.Now()
	if g.refused.Load() != 0 {
		if d := now.Add(refusedGrace); t.IsZero() || t.After(d) {
			t = d
		}
	}
	switch {
	case t.IsZero():
		g.armed.Store(false)
	case t.Before(now):
		// net/http ends a request's background read this way.
		g.armed.Store(false)
		g.readSince.Store(0)
	default:
		g.armed.Store(true)
	}
	return g.Conn.SetReadDeadline(t)
}

func (g *guardConn) Close() error {
	err := g.Conn.Close()
	g.closed.Do(func() {
		g.e.conns.total.Add(-1)
		if g.counted {
			g.e.conns.remove(clientPrefix(g.client))
		}
	})
	return err
}

// connCounts are the open connections, in total and per client. The map
// only holds clients with open connections, so it is bounded by MaxConns.
type connCounts struct {
	total     atomic.Int64
	mu        sync.Mutex
	perClient map[netip.Addr]int
}

func (c *connCounts) add(a netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.perClient == nil {
		c.perClient = map[netip.Addr]int{}
	}
	c.perClient[a]++
	return c.perClient[a]
}

func (c *connCounts) remove(a netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.perClient[a]--; c.perClient[a] <= 0 {
		delete(c.perClient, a)
	}
}

type connKey struct{}

// connContext hands the handler its connection (http.Server.ConnContext).
func connContext(ctx context.Context, c net.Conn) context.Context {
	// A TLS server (crypto/tls.Conn) wraps our connection: look inside.
	for range 4 {
		if g, ok := c.(*guardConn); ok {
			return context.WithValue(ctx, connKey{}, g)
		}
		inner, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = inner.NetConn()
	}
	return ctx
}

// connOf returns r's connection when it came through Listener.
func connOf(r *http.Request) *guardConn {
	g, _ := r.Context().Value(connKey{}).(*guardConn)
	return g
}

var (
	_ net.Listener = (*guardListener)(nil)
	_ net.Conn     = (*guardConn)(nil)
)

// CloseWrite lets net/http half-close the connection after an error
// answer, so that the client reads it before the connection goes.
func (g *guardConn) CloseWrite() error {
	c := g.Conn
	if g.proxied != nil {
		c = g.proxied.Raw()
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
