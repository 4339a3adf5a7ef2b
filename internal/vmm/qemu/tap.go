package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tapBusyWait bounds how long openTap waits for another descriptor to let
// go of the tap. A tap takes one descriptor, and one can linger briefly
// and harmlessly: a copy in a child forked while it was open (the agent
// starts many QEMUs and creates taps at the same time) lives until that
// child execs, which the network namespace the launcher gets makes slow
// under load.
const tapBusyWait = 10 * time.Second

// openTap attaches to the persistent tap device name in the network
// namespace at nsPath (the agent's own when empty) and returns the
// descriptor QEMU gets as -netdev tap,fd=N. Opening it here, as root, is
// what lets QEMU run unprivileged and in an empty network namespace: a tap
// descriptor keeps working wherever it is passed. While another descriptor
// holds the tap it waits (up to tapBusyWait, or ctx), then fails naming
// the processes that hold it (and their VMs, found by their files in
// stateDir).
func openTap(ctx context.Context, nsPath, name, stateDir string) (*os.File, error) {
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
		f, err := openTapHere(ctx, nsPath, name, stateDir)
		ch <- result{f, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("open tap %s: %w", name, r.err)
	}
	return r.f, nil
}

func openTapHere(ctx context.Context, nsPath, name, stateDir string) (*os.File, error) {
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
	deadline := time.NewTimer(tapBusyWait)
	defer deadline.Stop()
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		f, err := attachTap(name)
		if !errors.Is(err, unix.EBUSY) {
			return f, err
		}
		select {
		case <-time.After(pause):
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		return nil, fmt.Errorf("%w (waited for it to be free; %s)", err, describeHolders(tapHolders(name, stateDir)))
	}
}

// attachTap opens /dev/net/tun and attaches the descriptor to the tap.
func attachTap(name string) (*os.File, error) {
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

// tapHolder is a process with a descriptor attached to a tap.
type tapHolder struct {
	pid  int
	comm string
	// vm is the VM whose QEMU it is, when its command line names a file
	// in a VM's state directory.
	vm string
}

// tapHolders finds the processes holding a descriptor attached to a tap
// named name: a tun descriptor's fdinfo names its device. (Taps of the same
// name in other network namespaces are listed too; it is for messages.)
func tapHolders(name, stateDir string) []tapHolder {
	want := []byte("iff:\t" + name + "\n")
	procs, _ := os.ReadDir("/proc")
	var out []tapHolder
	for _, pe := range procs {
		pid, err := strconv.Atoi(pe.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", pe.Name())
		fds, _ := os.ReadDir(filepath.Join(dir, "fdinfo"))
		for _, fe := range fds {
			b, _ := os.ReadFile(filepath.Join(dir, "fdinfo", fe.Name()))
			if bytes.Contains(b, want) {
				comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
				cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
				out = append(out, tapHolder{pid: pid, comm: strings.TrimSpace(string(comm)), vm: vmOf(cmdline, stateDir)})
				break
			}
		}
	}
	return out
}

func describeHolders(hs []tapHolder) string {
	if len(hs) == 0 {
		return "no process holds it any more"
	}
	var parts []string
	for _, h := range hs {
		s := fmt.Sprintf("pid %d (%s", h.pid, h.comm)
		if h.vm != "" {
			s += ", vm " + h.vm
		}
		parts = append(parts, s+")")
	}
	return "held by " + strings.Join(parts, ", ")
}

// vmOf returns the VM whose state directory in stateDir a NUL-separated
// command line names a file in, or "".
func vmOf(cmdline []byte, stateDir string) string {
	if stateDir == "" {
		return ""
	}
	prefix := strings.TrimSuffix(stateDir, "/") + "/"
	for _, a := range strings.Split(string(cmdline), "\x00") {
		i := strings.Index(a, prefix)
		if i < 0 {
			continue
		}
		rest := a[i+len(prefix):]
		if id, _, ok := strings.Cut(rest, "/"); ok && id != "" && !strings.HasPrefix(id, ".") {
			return id
		}
	}
	return ""
}
