package edge

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// Serve serves srv on ln, with the edge's fast path in front of net/http
// when srv's handler is the edge itself and Config.DisableFastPath is not
// set (docs/design.md, Edge fast path): every plain HTTP connection
// starts in the edge's own HTTP/1.1 loop (serveFast), which serves the
// common request, a plain one for a deployment with instances, without
// net/http, and hands any other request, with the bytes it has read, to
// srv on the same connection. TLS connections and servers whose handler
// wraps the edge (redirects to HTTPS, HSTS) are served by srv alone. ln
// is normally Listener's. Like srv.Serve, it returns when srv is shut
// down or closed.
func (e *Edge) Serve(srv *http.Server, ln net.Listener) error {
	if e.cfg.DisableFastPath || srv.Handler != http.Handler(e) {
		return srv.Serve(ln)
	}
	fl := &fastListener{Listener: ln, e: e, srv: srv, conns: make(chan net.Conn),
		errc: make(chan error), done: make(chan struct{}), active: map[*fastConn]struct{}{}}
	go fl.acceptLoop()
	return srv.Serve(fl)
}

// fastListener is what srv serves: the connections the fast path handed
// off. Its accept loop starts every new connection in the fast path.
type fastListener struct {
	net.Listener
	e   *Edge
	srv *http.Server

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

// serveConn runs one new connection: TLS ones go to net/http as they
// are (HTTP/2, r.TLS), plain ones start in the fast path.
func (l *fastListener) serveConn(c net.Conn) {
	if _, ok := c.(*tls.Conn); ok {
		l.handoff(c)
		return
	}
	fc := newFastConn(l, c)
	l.track(fc, true)
	defer l.track(fc, false)
	fc.serve()
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
