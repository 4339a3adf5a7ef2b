package edge

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// errTunnel marks a tunnel connection that broke under a request: the
// node stopped acknowledging (TCP_USER_TIMEOUT, keepalive), the network
// reported it unreachable, or a kept-alive tunnel was reset without a
// close first (the agent or its host went away). Like a failed dial, it
// makes the node suspect.
var errTunnel = errors.New("tunnel to node broke")

// tunnelBroke reports whether err, from a request on c, says the node is
// gone rather than the app slow or the client gone. An app that answers
// late leaves the connection alone (the edge sets no response timeout);
// a client that leaves breaks the exchange with a deadline, which is no
// errno; an app that does not read a large body shrinks the window to
// zero, which also ends in ETIMEDOUT, so a zero window does not count. A
// reset counts only on a reused connection: a fresh one is reset by an
// agent that refuses it (unknown instance), and a connection the agent
// had closed first ends in EPIPE, not ECONNRESET.
func tunnelBroke(c *upConn, err error) bool {
	switch {
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return true
	case errors.Is(err, syscall.ECONNRESET):
		return c.reused
	case errors.Is(err, syscall.ETIMEDOUT):
		return !zeroWindow(c)
	}
	return false
}

// zeroWindow reports whether the node's last advertised receive window on
// c was zero: the instance was not reading what the edge sent.
func zeroWindow(c *upConn) bool {
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || ierr != nil {
		return false
	}
	return info.Snd_wnd == 0
}
