package lb

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// session is one client connection and its edge connection, relayed by a
// loop: two sides, each with the buffer of the direction it reads.
type session struct {
	lp     *loop
	c, s   side      // client, server (edge; fd -1 until dialled)
	last   time.Time // last byte read either way, for the idle timeout
	closed bool

	// Connecting: the listener's pool, the edge being tried (then the
	// one relayed to), those tried, and the PROXY header to send.
	p          *pool
	b          *backend
	connecting bool
	connectBy  time.Time
	tried      []*backend
	triedBuf   [2]*backend
	err        error // the last attempt's, for the log
	hdr        [proxyHeaderMax]byte
	hdrLen     int
}

// side is one socket of a session and the direction that reads from it.
type side struct {
	fd   int
	mask uint32 // events registered; 0: not in the epoll set
	buf  *[]byte
	off  int // buf[off:end] is read but not yet written to the peer
	end  int
	eof  bool // read EOF: the peer was half-closed
	in   bool // counts towards bytesIn (client to edge)
}

// handle acts on the events of fd.
func (s *session) handle(fd int32, ev uint32) {
	if s.connecting {
		if int(fd) == s.s.fd {
			s.connected()
		}
		return
	}
	src, dst := &s.c, &s.s
	if int(fd) == s.s.fd {
		src, dst = dst, src
	}
	if ev&unix.EPOLLOUT != 0 && !s.flush(dst, src) {
		return
	}
	if ev&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && src.mask&unix.EPOLLIN != 0 && !s.pump(src, dst) {
		return
	}
	if ev&unix.EPOLLERR != 0 {
		s.close()
		return
	}
	s.update()
}

// pump reads from src once and writes what it got to dst. It reports
// false when it closed the session.
func (s *session) pump(src, dst *side) bool {
	if src.buf == nil {
		src.buf = bufPool.Get().(*[]byte)
	}
	n, err := rawRead(src.fd, *src.buf)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return true
	case err != nil:
		s.close()
		return false
	case n == 0:
		src.eof = true
		src.release()
		if dst.eof { // both directions ended
			s.close()
			return false
		}
		unix.Shutdown(dst.fd, unix.SHUT_WR)
		return true
	}
	s.last = s.lp.now
	if src.in {
		s.lp.bytesIn += uint64(n)
	} else {
		s.lp.bytesOut += uint64(n)
	}
	src.off, src.end = 0, n
	return s.flush(src, dst)
}

// flush writes src's pending bytes to dst; what dst does not take now
// waits for it to be writable, and src is not read meanwhile. It reports
// false when it closed the session.
func (s *session) flush(src, dst *side) bool {
	for src.off < src.end {
		n, err := rawWrite(dst.fd, (*src.buf)[src.off:src.end])
		if err == unix.EAGAIN {
			return true
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			s.close()
			return false
		}
		src.off += n
	}
	src.off, src.end = 0, 0
	if src.eof {
		src.release()
	}
	return true
}

// update registers what each socket waits for: readable while its
// direction is open with nothing pending, writable while the other
// direction has bytes pending for it. A socket waiting for nothing
// leaves the epoll set, so that a hang-up there cannot spin the loop.
func (s *session) update() {
	s.lp.want(&s.c, wants(&s.c, &s.s))
	s.lp.want(&s.s, wants(&s.s, &s.c))
}

func wants(own, peer *side) uint32 {
	var m uint32
	if !own.eof && own.off == own.end {
		m |= unix.EPOLLIN
	}
	if peer.off < peer.end {
		m |= unix.EPOLLOUT
	}
	return m
}

func (lp *loop) want(sd *side, m uint32) {
	if m == sd.mask {
		return
	}
	op := unix.EPOLL_CTL_MOD
	switch {
	case sd.mask == 0:
		op = unix.EPOLL_CTL_ADD
	case m == 0:
		op = unix.EPOLL_CTL_DEL
	}
	ev := unix.EpollEvent{Events: m, Fd: int32(sd.fd)}
	unix.EpollCtl(lp.epfd, op, sd.fd, &ev) // fails only on a closed fd, which close handles
	sd.mask = m
}

// close closes both sockets (which drops them from the epoll set) once.
func (s *session) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.lp.forget(s)
	s.lp.closeLater(s.c.fd)
	if s.s.fd >= 0 {
		s.lp.closeLater(s.s.fd)
	}
	s.c.release()
	s.s.release()
	if s.b != nil && !s.connecting {
		s.b.active.Add(-1)
	}
	s.lp.lb.open.Add(-1)
}

func (sd *side) release() {
	if sd.buf != nil {
		bufPool.Put(sd.buf)
		sd.buf = nil
	}
}

// bufSize is a relay buffer, one per direction while it has bytes in
// flight, as HAProxy's default tune.bufsize: an HTTP request or answer of
// usual size takes one read.
const bufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}
