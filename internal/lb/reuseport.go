package lb

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort makes listeners with SO_REUSEPORT: Listen's, and the extra
// socket of the same address that every further loop listens on, so that
// the kernel spreads new connections over the loops by a hash of their
// addresses, as with HAProxy's listeners.
var reusePort = net.ListenConfig{
	Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	},
}

// loopListeners returns the listeners loop i accepts on: lns themselves
// for the first loop, for the others a socket of their own bound to the
// same address. (With one socket shared, EPOLLEXCLUSIVE wakes one loop
// per connection, but which one is up to the order of the kernel's wait
// queue, not a spread.) exclusive reports that ln (not made by Listen, without
// SO_REUSEPORT) is shared instead, each loop with its own descriptor.
func loopListeners(i int, lns []net.Listener) (own []net.Listener, exclusive bool) {
	if i == 0 {
		return lns, false
	}
	for _, ln := range lns {
		o, err := reusePort.Listen(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			for _, x := range own {
				x.Close()
			}
			return lns, true
		}
		own = append(own, o)
	}
	return own, false
}
