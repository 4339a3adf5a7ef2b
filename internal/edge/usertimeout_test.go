package edge

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A tunnel to a node that vanishes (no reset, no acknowledgement) must
// fail within TunnelUserTimeout, not after the kernel's minutes of
// retransmissions: its sockets carry TCP_USER_TIMEOUT. The test bed's
// cut-node test shows the effect end to end (internal/testbed).
func TestTunnelUserTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, tc := range []struct {
		name string
		set  time.Duration
		want int // milliseconds
	}{
		{"default", 0, 5000},
		{"configured", 1500 * time.Millisecond, 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{TunnelUserTimeout: tc.set}
			cfg.setDefaults()
			b := newBackend(backendKey{instance: "i", nodeAddr: ln.Addr().String()}, &cfg, &counters{}, "", &nodeHealth{})
			c, err := b.dial(context.Background(), "token")
			if err != nil {
				t.Fatal(err)
			}
			defer c.conn.Close()
			raw, err := c.raw.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var got int
			var gerr error
			raw.Control(func(fd uintptr) {
				got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
			})
			if gerr != nil || got != tc.want {
				t.Fatalf("TCP_USER_TIMEOUT = %d ms (%v), want %d", got, gerr, tc.want)
			}
		})
	}
}
