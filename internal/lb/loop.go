package lb

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// loop relays the connections handed to it with one epoll instance and
// one goroutine, as each of HAProxy's threads does: one epoll_wait serves
// many ready connections, a ready side costs one read and one write, and
// no goroutine parks or wakes per message. Serve runs one loop per P.
//
// The epoll set is level-triggered: a side is read once per readiness
// (a short read means it is drained, and epoll reports it again if not),
// so no read ends in EAGAIN, where Go's edge-triggered netpoller reads
// until one does.
type loop struct {
	epfd, evfd int
	idle       time.Duration
	st         *stats

	mu      sync.Mutex
	handed  []*session // handed over, not yet registered
	woken   bool       // evfd written since the loop last looked
	closing bool       // close every session now (drain deadline)
	stop    bool       // no sessions left; return

	fds      map[int32]*session // loop goroutine only, from here on
	sessions map[*session]struct{}
	now      time.Time // when the last epoll_wait returned
	bytesIn  uint64    // relayed, not yet added to st
	bytesOut uint64    // (flushed at every sweep)
	events   []unix.EpollEvent
}

func newLoop(idle time.Duration, st *stats) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("lb epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("lb epoll: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("lb eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("lb epoll add: %w", err)
	}
	return &loop{
		epfd: epfd, evfd: evfd, idle: idle, st: st,
		fds: map[int32]*session{}, sessions: map[*session]struct{}{},
		events: make([]unix.EpollEvent, 256),
	}, nil
}

// add hands s to the loop, which registers and relays it.
func (lp *loop) add(s *session) {
	lp.mu.Lock()
	lp.handed = append(lp.handed, s)
	wake := !lp.woken
	lp.woken = true
	lp.mu.Unlock()
	if wake {
		lp.wake()
	}
}

// closeAll closes every session of the loop (the drain deadline passed).
func (lp *loop) closeAll() {
	lp.mu.Lock()
	lp.closing = true
	lp.mu.Unlock()
	lp.wake()
}

// shutdown ends run once the loop has no sessions; Serve calls it after
// every connection ended.
func (lp *loop) shutdown() {
	lp.mu.Lock()
	lp.stop = true
	lp.mu.Unlock()
	lp.wake()
}

func (lp *loop) wake() {
	one := [8]byte{1}
	unix.Write(lp.evfd, one[:]) // EAGAIN only when the counter is full: woken anyway
}

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
		panic(fmt.Sprintf("lb epoll: %v", err)) // os.File always has one
	}
	sweepEvery := min(max(lp.idle/4, 10*time.Millisecond), time.Second)
	stop := false
	for !stop {
		f.SetReadDeadline(time.Now().Add(sweepEvery))
		rc.Read(func(uintptr) bool {
			stop = lp.poll()
			return stop // false: wait until the epoll set has events
		})
		lp.now = time.Now()
		lp.sweep()
	}
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
			if ev.Fd == int32(lp.evfd) {
				if lp.takeHanded() {
					return true
				}
				continue
			}
			if s := lp.fds[ev.Fd]; s != nil {
				s.handle(ev.Fd, ev.Events)
			}
		}
		// The loop's P also runs the accepting and connecting goroutines.
		runtime.Gosched()
	}
}

// takeHanded registers the sessions handed over and acts on closeAll and
// shutdown; it reports whether run should return.
func (lp *loop) takeHanded() bool {
	var buf [8]byte
	unix.Read(lp.evfd, buf[:])
	lp.mu.Lock()
	handed, closing, stop := lp.handed, lp.closing, lp.stop
	lp.handed, lp.woken = nil, false
	lp.mu.Unlock()
	for _, s := range handed {
		s.lp = lp
		lp.sessions[s] = struct{}{}
		lp.fds[int32(s.c.fd)] = s
		lp.fds[int32(s.s.fd)] = s
		s.last = lp.now
		s.update()
	}
	if closing {
		for s := range lp.sessions {
			s.close()
		}
	}
	return stop && len(lp.sessions) == 0
}

// sweep closes the sessions idle for longer than the idle timeout and
// adds the bytes relayed since the last sweep to the metrics.
func (lp *loop) sweep() {
	for s := range lp.sessions {
		if lp.now.Sub(s.last) >= lp.idle {
			s.close()
		}
	}
	lp.st.bytesIn.Add(lp.bytesIn)
	lp.st.bytesOut.Add(lp.bytesOut)
	lp.bytesIn, lp.bytesOut = 0, 0
}

// forget drops a closed session.
func (lp *loop) forget(s *session) {
	delete(lp.fds, int32(s.c.fd))
	delete(lp.fds, int32(s.s.fd))
	delete(lp.sessions, s)
}
