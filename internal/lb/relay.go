package lb

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
)

// serveConn relays client to a backend of p until both sides are done.
func (l *LB) serveConn(p *pool, c net.Conn) {
	client, ok := c.(*net.TCPConn)
	if !ok { // only TCP listeners splice; Listen makes those
		c.Close()
		return
	}
	server, b, err := l.connect(p, client)
	if err != nil {
		l.stats.refusedNone.Add(1)
		l.log.Warn("lb: no edge reachable", "client", client.RemoteAddr().String(), "err", err)
		client.Close()
		return
	}
	defer b.active.Add(-1)
	r := &relay{client: client, server: server}
	l.track(r, true)
	defer l.track(r, false)
	r.run(time.Duration(l.cfg.IdleTimeout), &l.stats)
}

// connect opens a connection to a healthy backend of p and sends it the
// PROXY header. A backend that cannot be reached is marked down and the
// next one tried, before the client has been sent anything.
func (l *LB) connect(p *pool, client *net.TCPConn) (*net.TCPConn, *backend, error) {
	d := net.Dialer{Timeout: time.Duration(l.cfg.ConnectTimeout)}
	var tried []*backend
	var errs []error
	for {
		b := p.pick(tried)
		if b == nil {
			if len(errs) == 0 {
				errs = append(errs, errors.New("no healthy edge in any region"))
			}
			return nil, nil, errors.Join(errs...)
		}
		if len(tried) > 0 {
			l.stats.retries.Add(1)
		}
		tried = append(tried, b)
		c, err := d.Dial("tcp", b.addr)
		if err == nil {
			err = l.sendHeader(c, client)
		}
		if err != nil {
			if c != nil {
				c.Close()
			}
			errs = append(errs, err)
			if b.dialFailed() {
				l.logState(b, err)
			}
			continue
		}
		if b.region != p.own() {
			l.stats.spilled.Add(1)
		}
		b.active.Add(1)
		b.conns.Add(1)
		return c.(*net.TCPConn), b, nil
	}
}

func (l *LB) sendHeader(server net.Conn, client *net.TCPConn) error {
	if !*l.cfg.ProxyProtocol {
		return nil
	}
	h := proxyproto.HeaderProxyFromAddrs(2, client.RemoteAddr(), client.LocalAddr())
	_, err := h.WriteTo(server)
	return err
}

func (l *LB) track(r *relay, add bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if add {
		l.live[r] = struct{}{}
	} else {
		delete(l.live, r)
	}
}

// relay is one client connection and its backend connection.
type relay struct {
	client, server *net.TCPConn
	// Last activity of each direction, UnixNano, for the idle timeout.
	upAt, downAt atomic.Int64
	closeOnce    sync.Once
}

func (r *relay) close() {
	r.closeOnce.Do(func() {
		r.client.Close()
		r.server.Close()
	})
}

// run copies both ways until both directions end; a direction that ends
// with EOF half-closes its destination (the other may go on), one that
// fails or idles out closes both.
func (r *relay) run(idle time.Duration, st *stats) {
	now := time.Now().UnixNano()
	r.upAt.Store(now)
	r.downAt.Store(now)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.pipe(r.server, r.client, &r.upAt, &r.downAt, idle, &st.bytesIn)
	}()
	r.pipe(r.client, r.server, &r.downAt, &r.upAt, idle, &st.bytesOut)
	<-done
	r.close()
}

// pipe copies src to dst with io.Copy, which splices between TCP
// connections on Linux. Its read deadline is re-armed every idle period;
// the connection counts as idle when neither direction moved a byte
// within about two periods (the other direction reports its activity
// only when its own deadline passes).
func (r *relay) pipe(dst, src *net.TCPConn, own, other *atomic.Int64, idle time.Duration, bytes *atomic.Uint64) {
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		n, err := io.Copy(dst, src)
		bytes.Add(uint64(n))
		now := time.Now().UnixNano()
		if n > 0 {
			own.Store(now)
		}
		if err == nil {
			dst.CloseWrite()
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) &&
			(n > 0 || time.Duration(now-other.Load()) < 2*idle) {
			continue
		}
		r.close()
		return
	}
}
