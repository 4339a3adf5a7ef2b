package lb

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The relay loop's system calls on its non-blocking sockets never block,
// so they skip the runtime's bookkeeping for calls that may (entersyscall
// and exitsyscall): under load on few cores that bookkeeping had the
// runtime's monitor take the loop's P away and hand it back mid-call,
// a futex wake and a thread switch each time. They also take and give
// addresses without the allocations of unix.Sockaddr.

func rawRead(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawEpollPoll returns the ready events of epfd without waiting.
func rawEpollPoll(epfd int, evs []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(evs))), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawAccept accepts a connection on the listening socket fd, non-blocking,
// and stores the client's address in sa.
func rawAccept(fd int, sa *unix.RawSockaddrAny) (int, error) {
	l := uint32(unix.SizeofSockaddrAny)
	n, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&l)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// rawSockname stores fd's own address in sa.
func rawSockname(fd int, sa *unix.RawSockaddrAny) error {
	l := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return e
	}
	return nil
}

// rawConnect starts connecting the non-blocking socket fd to ap;
// EINPROGRESS is its usual answer.
func rawConnect(fd int, ap netip.AddrPort, sa *unix.RawSockaddrAny) error {
	l := toSockaddr(ap, sa)
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(l))
	if e != 0 {
		return e
	}
	return nil
}

// fromSockaddr reads an IPv4 or IPv6 address (IPv4-mapped ones as IPv4).
func fromSockaddr(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), ntohs(in.Port))
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr).Unmap(), ntohs(in.Port))
	}
	return netip.AddrPort{}
}

// toSockaddr writes ap into sa and returns its length.
func toSockaddr(ap netip.AddrPort, sa *unix.RawSockaddrAny) int {
	*sa = unix.RawSockaddrAny{}
	if ap.Addr().Is4() {
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		in.Family = unix.AF_INET
		in.Port = ntohs(ap.Port())
		in.Addr = ap.Addr().As4()
		return unix.SizeofSockaddrInet4
	}
	in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
	in.Family = unix.AF_INET6
	in.Port = ntohs(ap.Port())
	in.Addr = ap.Addr().As16()
	return unix.SizeofSockaddrInet6
}

// ntohs swaps a port between network and host order (either way).
func ntohs(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}
