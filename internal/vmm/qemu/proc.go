package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// isOurQEMU reports whether pid is alive and is the QEMU of the VM whose
// state directory is dir: its command line names files in dir. This guards
// against a recycled pid after a host reboot or a long downtime.
func isOurQEMU(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return cmdlineMentions(b, dir)
}

// cmdlineMentions reports whether a NUL-separated command line has an
// argument naming a file in dir.
func cmdlineMentions(cmdline []byte, dir string) bool {
	dir = strings.TrimSuffix(dir, "/") + "/"
	for _, a := range bytes.Split(cmdline, []byte{0}) {
		if bytes.Contains(a, []byte(dir)) {
			return true
		}
	}
	return false
}

// waitPid blocks until a process that need not be our child exits, using a
// pidfd: it becomes readable when the process ends, and Go's poller waits
// on it without a thread or a sleep loop.
func waitPid(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("wait pid %d: %w", pid, err)
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(fds, 0)
		return n > 0
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("wait pid %d: %w", pid, err)
	}
	return nil
}

// signalPid sends sig through a pidfd, so a recycled pid is never hit.
func signalPid(pid int, sig unix.Signal) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	return nil
}
