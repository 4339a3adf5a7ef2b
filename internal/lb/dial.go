package lb

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// listener is a listening socket in a loop's epoll set: the loop's own
// (SO_REUSEPORT), or a descriptor of one shared by all loops. The loop
// that accepts a connection serves it until it closes.
type listener struct {
	fd     int
	events uint32
	pool   *pool
	local  netip.AddrPort // the address bound, when not a wildcard
	paused bool           // out of the epoll set until the next sweep
}

// accept takes the connections waiting on ln and starts connecting each
// to an edge.
func (lp *loop) accept(ln *listener) {
	l := lp.lb
	for range 64 { // then let the relayed connections have a turn
		cfd, err := rawAccept(ln.fd, &lp.sa)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		default: // out of descriptors or memory: pause, as net/http does
			l.log.Warn("lb accept", "err", err, "retry_in", lp.sweepEvery)
			lp.pause(ln)
			return
		}
		l.stats.accepted.Add(1)
		if l.open.Add(1) > int64(l.cfg.MaxConns) {
			l.stats.refusedCap.Add(1)
			l.open.Add(-1)
			unix.Close(cfd)
			continue
		}
		lp.start(ln, cfd)
	}
}

// start makes the session of a client connection and dials its edge.
func (lp *loop) start(ln *listener, cfd int) {
	lp.served.Add(1)
	s := &session{lp: lp, p: ln.pool, connecting: true, last: lp.now}
	s.c = side{fd: cfd, in: true}
	s.s = side{fd: -1}
	s.tried = s.triedBuf[:0]
	if *lp.lb.cfg.ProxyProtocol {
		peer := fromSockaddr(&lp.sa)
		local := ln.local
		if !local.IsValid() && rawSockname(cfd, &lp.sa) == nil {
			local = fromSockaddr(&lp.sa)
		}
		s.hdrLen = len(appendProxyHeader(s.hdr[:0], peer, local))
	}
	unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	lp.sessions[s] = struct{}{}
	lp.fds[int32(cfd)] = s
	s.dial()
}

// dial starts connecting to the next edge to try, from the first region
// that has a healthy one. With none left the client's connection is
// closed: nothing has been sent to it yet.
func (s *session) dial() {
	l := s.lp.lb
	for {
		b := s.p.pick(s.tried)
		if b == nil {
			l.stats.refusedNone.Add(1)
			if s.err == nil {
				s.err = errors.New("no healthy edge in any region")
			}
			l.log.Warn("lb: no edge reachable", "client", s.client(), "err", s.err)
			s.close()
			return
		}
		if len(s.tried) > 0 {
			l.stats.retries.Add(1)
		}
		s.tried = append(s.tried, b)
		ap := b.target.Load()
		if ap == nil { // a host name its checks have not resolved yet
			s.err = fmt.Errorf("edge %s: address not resolved yet", b.addr)
			continue
		}
		fd, err := s.lp.connect(*ap)
		if err != nil {
			s.failed(b, err)
			continue
		}
		s.b, s.s.fd = b, fd
		s.connectBy = s.lp.now.Add(time.Duration(l.cfg.ConnectTimeout))
		s.lp.fds[int32(fd)] = s
		s.lp.want(&s.s, unix.EPOLLOUT)
		return
	}
}

// connect opens a non-blocking socket connecting to ap.
func (lp *loop) connect(ap netip.AddrPort) (int, error) {
	family := unix.AF_INET6
	if ap.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := rawConnect(fd, ap, &lp.sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %s: %w", ap, err)
	}
	return fd, nil
}

// connected finishes a connection attempt once the edge's socket is
// writable (or failed): it sends the PROXY header and starts relaying, or
// takes the edge out and tries the next.
func (s *session) connected() {
	err := sockError(s.s.fd)
	if err == nil && s.hdrLen > 0 {
		var n int
		n, err = rawWrite(s.s.fd, s.hdr[:s.hdrLen])
		if err == nil && n < s.hdrLen { // a fresh socket's buffer takes 52 bytes
			err = errors.New("short write of the PROXY header")
		}
	}
	if err != nil {
		s.retry(fmt.Errorf("connect %s: %w", s.b.addr, err))
		return
	}
	s.connecting = false
	b := s.b
	b.active.Add(1)
	b.conns.Add(1)
	if b.region != s.p.own() {
		s.lp.lb.stats.spilled.Add(1)
	}
	s.update()
}

// retry drops the failed edge connection and dials the next edge.
func (s *session) retry(err error) {
	delete(s.lp.fds, int32(s.s.fd))
	s.lp.closeLater(s.s.fd)
	s.s.fd, s.s.mask = -1, 0
	s.failed(s.b, err)
	s.b = nil
	s.dial()
}

// failed takes b out at once: a refused or timed-out connection is
// stronger evidence than a missed check, and the checks bring it back.
func (s *session) failed(b *backend, err error) {
	s.err = err
	if b.dialFailed() {
		s.lp.lb.logState(b, err)
	}
}

func sockError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// client is the client's address, for logs.
func (s *session) client() string {
	sa, err := unix.Getpeername(s.c.fd)
	if in, ok := sa.(*unix.SockaddrInet4); ok && err == nil {
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port)).String()
	}
	if in, ok := sa.(*unix.SockaddrInet6); ok && err == nil {
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr).Unmap(), uint16(in.Port)).String()
	}
	return "?"
}
