package network

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Named network namespaces are made here the way iproute2 makes them, not
// with netns.NewNamed. NewNamed binds the namespace under /run/netns even
// when /run/netns is a plain directory (as on a fresh host). The next
// `ip netns add` then turns /run/netns into a bind mount of itself, which
// covers the namespace's mount: it can neither be unmounted nor removed
// (EBUSY), and the namespace outlives its network. Making /run/netns a
// shared mount point first, as iproute2 does, keeps every namespace mount
// on top, where both tools find it.

// netnsDir is where named namespaces are bound (iproute2's NETNS_RUN_DIR).
const netnsDir = "/run/netns"

// maxStackedMounts bounds the unmount loop in removeNamespace.
const maxStackedMounts = 16

// ensureNetnsDir makes netnsDir exist and be a shared mount point,
// following iproute2's create_netns_dir: try to make it shared; if that
// fails with EINVAL it is not a mount point yet, so bind it onto itself
// (recursively, keeping anything already bound under it) and try again.
func ensureNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", netnsDir, err)
	}
	bound := false
	for {
		err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || bound {
			return fmt.Errorf("make %s a shared mount: %w", netnsDir, err)
		}
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s onto itself: %w", netnsDir, err)
		}
		bound = true
	}
}

// openNamespace opens the named namespace, or creates it when it does not
// exist. A file left without a namespace mounted on it (a crash between
// creating the file and binding it) is removed and made again.
func openNamespace(name string) (netns.NsHandle, error) {
	ns, err := netns.GetFromName(name)
	if err == nil {
		if isNamespace(ns) {
			return ns, nil
		}
		ns.Close()
		if err := removeNamespace(name); err != nil {
			return netns.None(), err
		}
	}
	return createNamespace(name)
}

// isNamespace reports whether h is a namespace file (nsfs), not a plain
// file at the namespace's path.
func isNamespace(h netns.NsHandle) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(int(h), &st) == nil && st.Type == unix.NSFS_MAGIC
}

// createNamespace makes a new network namespace bound at
// /run/netns/<name>, as `ip netns add` does.
func createNamespace(name string) (netns.NsHandle, error) {
	if err := ensureNetnsDir(); err != nil {
		return netns.None(), err
	}
	path := filepath.Join(netnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return netns.None(), fmt.Errorf("create namespace file: %w", err)
	}
	f.Close()
	if err := bindNewNamespace(path); err != nil {
		os.Remove(path)
		return netns.None(), err
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return netns.None(), fmt.Errorf("open namespace %s: %w", name, err)
	}
	return ns, nil
}

// bindNewNamespace unshares a new network namespace on a thread of its own
// and binds it at path. The goroutine never unlocks its thread, so the
// runtime ends the thread with it and no other goroutine ever runs in the
// new namespace.
func bindNewNamespace(path string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind namespace at %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

// removeNamespace unbinds and removes /run/netns/<name>. It unmounts until
// nothing is left mounted there (racing creators can stack binds),
// detaching lazily so a process still inside the namespace cannot make it
// fail, then removes the file. A namespace already gone is not an error.
func removeNamespace(name string) error {
	path := filepath.Join(netnsDir, name)
	for i := 0; ; i++ {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // not (or no longer) a mount point, or no file at all
		}
		if err != nil {
			return fmt.Errorf("unmount namespace %s: %w", path, err)
		}
		if i == maxStackedMounts {
			return fmt.Errorf("unmount namespace %s: still mounted after %d unmounts", path, i+1)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove namespace %s: %w", path, err)
	}
	return nil
}
