package lb

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// serveConn connects client to a backend of p and hands both to a relay
// loop; done runs once the client's connection is over.
func (l *LB) serveConn(p *pool, c net.Conn, done func()) {
	client, ok := c.(*net.TCPConn)
	if !ok { // Listen makes TCP listeners only
		c.Close()
		done()
		return
	}
	server, b, err := l.connect(p, client)
	if err != nil {
		l.stats.refusedNone.Add(1)
		l.log.Warn("lb: no edge reachable", "client", client.RemoteAddr().String(), "err", err)
		client.Close()
		done()
		return
	}
	cfd, err := detach(client)
	if err != nil {
		server.Close()
		l.relayFailed(b, err, done)
		return
	}
	sfd, err := detach(server)
	if err != nil {
		unix.Close(cfd)
		l.relayFailed(b, err, done)
		return
	}
	l.nextLoop().add(newSession(cfd, sfd, func() {
		b.active.Add(-1)
		done()
	}))
}

func (l *LB) relayFailed(b *backend, err error, done func()) {
	l.log.Warn("lb: hand over connection", "err", err)
	b.active.Add(-1)
	done()
}

// nextLoop picks the relay loop for a new session, in turn.
func (l *LB) nextLoop() *loop {
	return l.loops[l.loopNext.Add(1)%uint64(len(l.loops))]
}

// detach takes c's socket out of Go's poller for a relay loop: it
// duplicates the descriptor (still non-blocking) and closes c's.
func detach(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) {
		fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	})
	c.Close()
	if err = errors.Join(cerr, err); err != nil {
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	return fd, nil
}

// connect opens a connection to a healthy backend of p and sends it the
// PROXY header. A backend that cannot be reached is marked down and the
// next one tried, before the client has been sent anything.
func (l *LB) connect(p *pool, client *net.TCPConn) (*net.TCPConn, *backend, error) {
	// No TCP keep-alive probes, as HAProxy by default: the idle timeout
	// ends dead connections, and the probes cost system calls per connection.
	d := net.Dialer{Timeout: time.Duration(l.cfg.ConnectTimeout), KeepAlive: -1}
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
	var buf [proxyHeaderMax]byte
	h := appendProxyHeader(buf[:0], client.RemoteAddr().(*net.TCPAddr), client.LocalAddr().(*net.TCPAddr))
	_, err := server.Write(h)
	return err
}
