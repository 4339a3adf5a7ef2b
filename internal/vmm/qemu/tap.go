package qemu

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// openTap attaches to the persistent tap device name in the network
// namespace at nsPath (the agent's own when empty) and returns the
// descriptor QEMU gets as -netdev tap,fd=N. Opening it here, as root, is
// what lets QEMU run unprivileged and in an empty network namespace: a tap
// descriptor keeps working wherever it is passed.
func openTap(nsPath, name string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread may be switched into the VM namespace and is never
		// switched back: without UnlockOSThread it exits with this
		// goroutine, so no other goroutine ever runs there.
		runtime.LockOSThread()
		f, err := openTapHere(nsPath, name)
		ch <- result{f, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("open tap %s: %w", name, r.err)
	}
	return r.f, nil
}

func openTapHere(nsPath, name string) (*os.File, error) {
	if nsPath != "" {
		ns, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		err = unix.Setns(ns, unix.CLONE_NEWNET)
		unix.Close(ns)
		if err != nil {
			return nil, fmt.Errorf("setns %s: %w", nsPath, err)
		}
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	// The flags QEMU itself asks for when it opens a tap by name: frames
	// without the packet-information prefix, with virtio-net headers.
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}
