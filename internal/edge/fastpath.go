package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Serve serves srv on ln, with the edge's fast path in front of net/http
// when srv's handler is the edge (or a Wrapper around it) and
// Config.DisableFastPath is not set (docs/design.md, The path of a
// request): every HTTP/1.x connection starts in the edge's own HTTP/1.1
// loop (fastConn), which serves the common request, a plain one for a
// deployment with instances, without net/http, and hands any other
// request, with the bytes it has read, to srv on the same connection. A
// TLS connection (ln from edgetls's Listener) is handshaken first; one
// that chose HTTP/2 goes to srv as it is. Servers with another handler
// (the HTTPS redirector) are served by srv alone. ln is normally
// Listener's, maybe under TLS. Like srv.Serve, it returns when srv is
// shut down or closed.
func (e *Edge) Serve(srv *http.Server, ln net.Listener) error {
	if e.cfg.DisableFastPath || !e.wrappedBy(srv.Handler) {
		return srv.Serve(ln)
	}
	fl := &fastListener{Listener: ln, e: e, srv: srv, h: srv.Handler, conns: make(chan net.Conn),
		errc: make(chan error), done: make(chan struct{}), active: map[*fastConn]struct{}{}}
	go fl.acceptLoop()
	return srv.Serve(fl)
}

// Wrapper is a handler that passes every request on to the edge, at
// most adding response headers (edgetls's HSTS): the fast path serves
// through it.
type Wrapper interface {
	http.Handler
	// WrapsEdge returns the handler it passes requests on to.
	WrapsEdge() http.Handler
}

// wrappedBy reports whether h is the edge or Wrappers around it.
func (e *Edge) wrappedBy(h http.Handler) bool {
	for range 8 {
		if h == http.Handler(e) {
			return true
		}
		w, ok := h.(Wrapper)
		if !ok {
			return false
		}
		h = w.WrapsEdge()
	}
	return false
}

// fastListener is what srv serves: the connections the fast path handed
// off. Its accept loop starts every new connection in the fast path.
type fastListener struct {
	net.Listener
	e   *Edge
	srv *http.Server
	h   http.Handler // srv's: the edge, or Wrappers around it

	conns chan net.Conn // handed off, for srv's Accept
	errc  chan error    // the accept loop's errors, for srv's Accept
	done  chan struct{}
	once  sync.Once

	closing atomic.Bool
	mu      sync.Mutex
	active  map[*fastConn]struct{} // the fast path's connections
}

func (l *fastListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			// srv's Accept passes it on: net/http backs off and accepts
			// again after a temporary error (too many open files), and
			// closes the listener after any other, which ends this loop.
			select {
			case l.errc <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go l.serveConn(c)
	}
}

// Accept returns the next connection the fast path handed off.
func (l *fastListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// handoff gives c to net/http, or closes it when the server is gone.
func (l *fastListener) handoff(c net.Conn) {
	l.e.stats.fastHandoffs.Add(1)
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// Close stops accepting and closes the fast path's idle connections;
// busy ones close after their response (srv.Shutdown and srv.Close call
// it).
func (l *fastListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		close(l.done)
		l.closing.Store(true)
		l.mu.Lock()
		for fc := range l.active {
			if fc.idle.Load() {
				fc.conn.Close()
			}
		}
		l.mu.Unlock()
	})
	return err
}

func (l *fastListener) track(fc *fastConn, add bool) {
	l.mu.Lock()
	if add {
		l.active[fc] = struct{}{}
	} else {
		delete(l.active, fc)
	}
	l.mu.Unlock()
}

// serveConn runs one new connection in the fast path; a TLS one after
// its handshake, unless it chose HTTP/2 (or failed: net/http then logs
// it as before).
func (l *fastListener) serveConn(c net.Conn) {
	var state *tls.ConnectionState
	if tc, ok := c.(*tls.Conn); ok {
		if state = l.handshake(tc); state == nil {
			l.handoff(c)
			return
		}
	}
	fc := newFastConn(l, c, state)
	l.track(fc, true)
	defer l.track(fc, false)
	fc.serve()
}

// handshake completes a TLS handshake within ReadHeaderTimeout, as
// net/http does, and returns the connection's state if it is to speak
// HTTP/1.1 (nil: leave it to net/http).
func (l *fastListener) handshake(tc *tls.Conn) *tls.ConnectionState {
	tc.SetDeadline(time.Now().Add(l.e.cfg.ReadHeaderTimeout))
	if err := tc.HandshakeContext(context.Background()); err != nil {
		return nil // net/http's handshake returns the same error and logs it
	}
	tc.SetWriteDeadline(time.Time{})
	state := tc.ConnectionState()
	if p := state.NegotiatedProtocol; p != "" && p != "http/1.1" {
		return nil // h2 (or acme-tls/1): net/http's
	}
	if g := guardOf(tc); g != nil {
		g.tlsState.Store(&state) // for r.TLS after a hand-off (Edge.ServeHTTP)
	}
	return &state
}

// guardOf finds the guarded connection under c (TLS's).
func guardOf(c net.Conn) *guardConn {
	for range 4 {
		if g, ok := c.(*guardConn); ok {
			return g
		}
		inner, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = inner.NetConn()
	}
	return nil
}

// replayConn is a connection handed off after the fast path read from
// it: net/http reads the bytes already read first, then the connection.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// NetConn lets connContext find the guarded connection underneath.
func (c *replayConn) NetConn() net.Conn { return c.Conn }

// CloseWrite keeps net/http's half-close after an error answer.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

var _ net.Listener = (*fastListener)(nil)

// fixTLS sets r.TLS for a request on a TLS connection that the fast path
// handed off: net/http sees its replaying wrapper, not the *tls.Conn, so
// redirects, X-Forwarded-Proto and the rest would take it for plain HTTP.
func fixTLS(r *http.Request) {
	if g := connOf(r); g != nil {
		if s := g.tlsState.Load(); s != nil {
			r.TLS = s
		}
	}
}
