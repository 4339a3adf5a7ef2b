package guest

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// listenProbe asks the kernel's sock_diag whether a TCP socket listens on a
// port. The init polls it while the app starts, on the VM's only vCPU
// under TCG, so each check must cost little: a request for listening
// sockets of that port walks only the kernel's listening hash and answers
// with at most a few short messages, where reading /proc/net/tcp{,6} has
// the kernel format every socket as text and the init parse it.
type listenProbe struct {
	fd  int
	buf []byte
}

// Netlink and sock_diag constants not in x/sys/unix.
const (
	tcpListenState = 10 // TCP_LISTEN
	inetDiagReqLen = 56 // struct inet_diag_req_v2
	inetDiagMsgLen = 72 // struct inet_diag_msg, before its attributes
	// inetDiagSKV6Only is the attribute (a u8) the kernel adds to every
	// listening IPv6 socket's message, unasked (no idiag_ext bit): 1 when
	// the socket has IPV6_V6ONLY and so takes no IPv4 connections.
	inetDiagSKV6Only = 11 // INET_DIAG_SKV6ONLY
)

func newListenProbe() (*listenProbe, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	return &listenProbe{fd: fd, buf: make([]byte, 16<<10)}, nil
}

func (p *listenProbe) close() { unix.Close(p.fd) }

// listeners is what listens on the app's port: whether a socket others can
// reach does (on the any address or eth0's), the address of one that
// listens on loopback only ("127.0.0.1", "::1"), which nothing outside
// the VM can reach, and that of an IPv6 socket with IPV6_V6ONLY ("::"),
// which the host cannot reach either: the VM has an IPv4 address only and
// the health check connects over IPv4 (nginx's `listen [::]:80;` alone,
// Go's "tcp6").
type listeners struct {
	reachable bool
	loopback  string
	v6only    string
}

func (l *listeners) add(o listeners) {
	l.reachable = l.reachable || o.reachable
	if l.loopback == "" {
		l.loopback = o.loopback
	}
	if l.v6only == "" {
		l.v6only = o.v6only
	}
}

// listening reports whether a TCP socket of IPv4 or IPv6 others can reach
// listens on port.
func (p *listenProbe) listening(port int) (bool, error) {
	l, err := p.listeners(port)
	return l.reachable, err
}

// listeners asks for the IPv4 and IPv6 TCP sockets listening on port.
func (p *listenProbe) listeners(port int) (listeners, error) {
	var all listeners
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		l, err := p.query(family, port)
		all.add(l)
		if all.reachable || err != nil {
			return all, err
		}
	}
	return all, nil
}

func (p *listenProbe) query(family uint8, port int) (listeners, error) {
	var found listeners
	if err := unix.Sendto(p.fd, diagRequest(family, port), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return found, fmt.Errorf("sock_diag: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(p.fd, p.buf, 0)
		if err != nil {
			return found, fmt.Errorf("sock_diag: %w", err)
		}
		l, done, err := parseDiag(p.buf[:n], port)
		found.add(l)
		if err != nil || done {
			return found, err
		}
	}
}

// elsewhere returns a socket others can reach listening on a port other
// than port, if there is one: an app that listens, but not on $PORT.
func (p *listenProbe) elsewhere(port int) (netip.AddrPort, bool, error) {
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := unix.Sendto(p.fd, diagRequest(family, 0), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return netip.AddrPort{}, false, fmt.Errorf("sock_diag: %w", err)
		}
		var found []netip.AddrPort
		for {
			n, _, err := unix.Recvfrom(p.fd, p.buf, 0)
			if err != nil {
				return netip.AddrPort{}, false, fmt.Errorf("sock_diag: %w", err)
			}
			r, done, err := parseDiagAll(p.buf[:n])
			found = append(found, r...)
			if err != nil {
				return netip.AddrPort{}, false, err
			}
			if done {
				break
			}
		}
		for _, a := range found {
			if int(a.Port()) != port {
				return a, true, nil
			}
		}
	}
	return netip.AddrPort{}, false, nil
}

// diagRequest is a netlink dump request for the TCP sockets of family in
// LISTEN state whose local port is port (the kernel filters on the port
// for listening sockets; 0 asks for all).
func diagRequest(family uint8, port int) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+inetDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	r := b[unix.NLMSG_HDRLEN:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 1<<tcpListenState)
	binary.BigEndian.PutUint16(r[8:], uint16(port)) // id.idiag_sport
	return b
}

// parseDiag reads one batch of netlink messages: the listening sockets on
// port among them, and whether the dump is done.
func parseDiag(b []byte, port int) (found listeners, done bool, err error) {
	done, err = walkDiag(b, func(body []byte) {
		if int(binary.BigEndian.Uint16(body[4:])) == port {
			found.add(diagListener(body))
		}
	})
	return found, done, err
}

// parseDiagAll reads one batch of a dump of every listening socket: the
// addresses and ports of those others can reach (not loopback, not IPv6
// only).
func parseDiagAll(b []byte) (reachable []netip.AddrPort, done bool, err error) {
	done, err = walkDiag(b, func(body []byte) {
		if addr, ok := diagAddr(body); ok && !addr.IsLoopback() && !diagV6Only(body) {
			reachable = append(reachable, netip.AddrPortFrom(addr, binary.BigEndian.Uint16(body[4:])))
		}
	})
	return reachable, done, err
}

// walkDiag calls fn with the body of each listening socket's message in
// one batch, and says whether the dump is done.
func walkDiag(b []byte, fn func(body []byte)) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b[0:]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return true, fmt.Errorf("sock_diag: bad message length %d", l)
		}
		body := b[unix.NLMSG_HDRLEN:l]
		switch ne.Uint16(b[4:]) {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if e := int32(ne.Uint32(body)); e != 0 {
					return true, fmt.Errorf("sock_diag: %w", unix.Errno(-e))
				}
			}
			return true, nil
		case unix.SOCK_DIAG_BY_FAMILY:
			// inet_diag_msg: family, state, timer, retrans, then the
			// socket id with the local port first, big-endian.
			if len(body) >= 6 && body[1] == tcpListenState {
				fn(body)
			}
		}
		next := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return false, nil
}

// diagListener classifies one listening socket by its local address and
// whether it is IPv6 only. A message too short to hold the address counts
// as reachable.
func diagListener(body []byte) listeners {
	addr, ok := diagAddr(body)
	switch {
	case ok && addr.IsLoopback():
		return listeners{loopback: addr.String()}
	case ok && diagV6Only(body):
		return listeners{v6only: addr.String()}
	}
	return listeners{reachable: true}
}

// diagV6Only reports whether an IPv6 socket's message carries
// INET_DIAG_SKV6ONLY set: its netlink attributes follow inet_diag_msg,
// each a length, a type and a payload padded to 4 bytes.
func diagV6Only(body []byte) bool {
	if len(body) < inetDiagMsgLen || body[0] != unix.AF_INET6 {
		return false
	}
	ne := binary.NativeEndian
	for a := body[inetDiagMsgLen:]; len(a) >= unix.SizeofNlAttr; {
		l := int(ne.Uint16(a[0:]))
		if l < unix.SizeofNlAttr || l > len(a) {
			return false
		}
		if ne.Uint16(a[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER) == inetDiagSKV6Only && l > unix.SizeofNlAttr {
			return a[unix.SizeofNlAttr] != 0
		}
		next := (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if next >= len(a) {
			break
		}
		a = a[next:]
	}
	return false
}

// diagAddr is a socket's local address, which follows the ports in
// inet_diag_msg's socket id (16 bytes, IPv4 in the first 4).
func diagAddr(body []byte) (netip.Addr, bool) {
	if len(body) < 24 {
		return netip.Addr{}, false
	}
	switch body[0] {
	case unix.AF_INET:
		return netip.AddrFrom4([4]byte(body[8:12])), true
	case unix.AF_INET6:
		return netip.AddrFrom16([16]byte(body[8:24])).Unmap(), true
	}
	return netip.Addr{}, false
}
