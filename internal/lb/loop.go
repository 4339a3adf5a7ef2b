package lb

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// loop serves connections with one epoll instance and one goroutine, as
// each of HAProxy's threads does: it accepts, connects to the edge, sends
// the PROXY header and relays, and one epoll_wait serves many ready
// sockets, each for one read and one write, with no goroutine parking or
// waking per message. Serve runs one loop per P.
//
// The epoll set is level-triggered: a socket is read once per readiness
// (a short read means it is drained, and epoll reports it again if not),
// so no read ends in EAGAIN, where Go's edge-triggered netpoller reads
// until one does.
type loop struct {
	lb         *LB
	epfd, evfd int
	sweepEvery time.Duration

	mu        sync.Mutex
	closing   bool // close every session now (drain deadline)
	unlisten  bool // close the listeners (drain begins)
	stop      bool // return once no session is left
	listeners []*listener
	served    atomic.Uint64 // connections accepted and kept, for tests

	// The rest is the loop goroutine's only.
	fds      map[int32]*session
	sessions map[*session]struct{}
	now      time.Time // when the last events were read
	bytesIn  uint64    // relayed, not yet added to stats
	bytesOut uint64    // (added at every sweep)
	events   []unix.EpollEvent
	dead     []int               // sockets to close once the events read are handled
	sa       unix.RawSockaddrAny // scratch for accept and connect
}

func newLoop(l *LB) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("lb epoll: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		err = unix.SetNonblock(epfd, true) // so that Go's poller takes it
	}
	if err == nil {
		err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)})
	}
	if err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("lb epoll: %w", err)
	}
	shortest := min(time.Duration(l.cfg.IdleTimeout), time.Duration(l.cfg.ConnectTimeout))
	return &loop{
		lb: l, epfd: epfd, evfd: evfd,
		sweepEvery: min(max(shortest/4, 10*time.Millisecond), time.Second),
		fds:        map[int32]*session{}, sessions: map[*session]struct{}{},
		events: make([]unix.EpollEvent, 256),
	}, nil
}

// listen adds a descriptor of ln's socket to the loop's epoll set,
// EPOLLEXCLUSIVE when other loops share it; call it before run.
func (lp *loop) listen(ln net.Listener, p *pool, exclusive bool) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return fmt.Errorf("lb listen %s: not a TCP listener", ln.Addr())
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return fmt.Errorf("lb listen %s: %w", ln.Addr(), err)
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) })
	if cerr != nil || err != nil {
		return fmt.Errorf("lb listen %s: %w %w", ln.Addr(), cerr, err)
	}
	li := &listener{fd: fd, pool: p, events: unix.EPOLLIN}
	if exclusive {
		li.events |= unix.EPOLLEXCLUSIVE
	}
	if ap := tl.Addr().(*net.TCPAddr).AddrPort(); !ap.Addr().IsUnspecified() {
		li.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ev := unix.EpollEvent{Events: li.events, Fd: int32(fd)}
	if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return fmt.Errorf("lb listen %s: %w", ln.Addr(), err)
	}
	lp.listeners = append(lp.listeners, li)
	return nil
}

// pause takes ln out of the epoll set until the next sweep (accept
// failed for want of descriptors or memory; level-triggered, it would spin).
func (lp *loop) pause(ln *listener) {
	ln.paused = true
	unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
}

// signal sets one of the flags below and wakes the loop.
func (lp *loop) signal(set func()) {
	lp.mu.Lock()
	set()
	lp.mu.Unlock()
	one := [8]byte{1}
	unix.Write(lp.evfd, one[:]) // EAGAIN only when the counter is full: woken anyway
}

// closeListeners stops accepting (the drain begins).
func (lp *loop) closeListeners() { lp.signal(func() { lp.unlisten = true }) }

// closeAll closes every session of the loop (the drain deadline passed).
func (lp *loop) closeAll() { lp.signal(func() { lp.closing = true }) }

// shutdown ends run once the loop has no sessions.
func (lp *loop) shutdown() { lp.signal(func() { lp.stop = true }) }

// run serves the loop's sessions until shutdown. The loop's goroutine
// waits in Go's own poller, on the epoll descriptor, rather than blocked
// in epoll_wait: a thread blocked in a system call has its P taken away
// and handed back, and keeps the runtime's monitor waking every 20 µs.
func (lp *loop) run() {
	f := os.NewFile(uintptr(lp.epfd), "lb-epoll") // non-blocking: Go polls it
	defer f.Close()
	defer unix.Close(lp.evfd)
	rc, err := f.SyscallConn()
	if err != nil {
		panic(fmt.Sprintf("lb epoll: %v", err)) // an os.File always has one
	}
	stop := false
	for !stop {
		f.SetReadDeadline(time.Now().Add(lp.sweepEvery))
		rc.Read(func(uintptr) bool {
			stop = lp.poll()
			return stop // false: wait until the epoll set has events
		})
		lp.now = time.Now()
		lp.sweep()
		lp.reap()
	}
	lp.closeListenerFDs()
}

// closeListenerFDs closes the loop's descriptors of the listeners. They
// leave the epoll set first: the socket stays open (Go's descriptor and
// the other loops' share it), and epoll forgets it only when all close.
func (lp *loop) closeListenerFDs() {
	for _, ln := range lp.listeners {
		if !ln.paused {
			unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
		}
		unix.Close(ln.fd)
	}
	lp.listeners = nil
}

// poll handles ready events until there are none (so that Go's poller,
// edge-triggered, sees the next one) and reports whether run should end.
func (lp *loop) poll() bool {
	for {
		n, err := rawEpollPoll(lp.epfd, lp.events)
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			return false
		}
		lp.now = time.Now()
		for _, ev := range lp.events[:n] {
			if s := lp.fds[ev.Fd]; s != nil {
				s.handle(ev.Fd, ev.Events)
			} else if ev.Fd == int32(lp.evfd) {
				if lp.control() {
					return true
				}
			} else if ln := lp.listener(ev.Fd); ln != nil {
				lp.accept(ln)
			}
		}
		lp.reap()
		// The loop's P also runs Go's other goroutines (checks, metrics).
		runtime.Gosched()
	}
}

func (lp *loop) listener(fd int32) *listener {
	for _, ln := range lp.listeners {
		if int32(ln.fd) == fd {
			return ln
		}
	}
	return nil
}

// control acts on closeListeners, closeAll and shutdown; it reports
// whether run should return.
func (lp *loop) control() bool {
	var buf [8]byte
	unix.Read(lp.evfd, buf[:])
	lp.mu.Lock()
	unlisten, closing, stop := lp.unlisten, lp.closing, lp.stop
	lp.mu.Unlock()
	if unlisten || stop {
		lp.closeListenerFDs()
	}
	if closing || stop {
		for s := range lp.sessions {
			s.close()
		}
	}
	return stop
}

// sweep closes the sessions idle for longer than the idle timeout, fails
// connection attempts past the connect timeout, takes paused listeners
// back and adds the bytes relayed since the last sweep to the metrics.
func (lp *loop) sweep() {
	idle := time.Duration(lp.lb.cfg.IdleTimeout)
	for s := range lp.sessions {
		switch {
		case s.connecting && lp.now.After(s.connectBy):
			s.retry(fmt.Errorf("connect %s: timed out", s.b.addr))
		case !s.connecting && lp.now.Sub(s.last) >= idle:
			s.close()
		}
	}
	for _, ln := range lp.listeners {
		if ln.paused {
			ln.paused = false
			unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, ln.fd, &unix.EpollEvent{Events: ln.events, Fd: int32(ln.fd)})
		}
	}
	lp.lb.stats.bytesIn.Add(lp.bytesIn)
	lp.lb.stats.bytesOut.Add(lp.bytesOut)
	lp.bytesIn, lp.bytesOut = 0, 0
}

// closeLater closes fd after the events of this epoll_wait are handled:
// closed at once, its number could be reused by a socket accepted or
// dialled further down the same batch, and a stale event of the old
// socket would go to the new one.
func (lp *loop) closeLater(fd int) { lp.dead = append(lp.dead, fd) }

func (lp *loop) reap() {
	for _, fd := range lp.dead {
		unix.Close(fd)
	}
	lp.dead = lp.dead[:0]
}

// forget drops a closed session.
func (lp *loop) forget(s *session) {
	delete(lp.fds, int32(s.c.fd))
	if s.s.fd >= 0 {
		delete(lp.fds, int32(s.s.fd))
	}
	delete(lp.sessions, s)
}
