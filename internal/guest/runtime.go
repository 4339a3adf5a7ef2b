package guest

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The files and limits an app built for a container runtime takes for
// granted, which a root disk made from its image does not have by itself:
// Docker's runtime (runc) makes them around every container, so images
// rely on them without shipping them (an image FROM scratch has no /tmp,
// nginx's logs are symlinks to /dev/stdout, Java resolves its own
// hostname at start).

// devLinks are the /dev symlinks runc makes; devtmpfs has none of them.
var devLinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
}

// appNofile is the app's open file limit: soft 65536 (a busy server's
// connections and files; the kernel's 1024 is too few), hard 1048576 (the
// kernel's fs.nr_open), which the app may raise its soft limit to.
var appNofile = syscall.Rlimit{Cur: 65536, Max: 1 << 20}

// prepareRuntime makes the app's runtime environment in the new root:
// /dev links, a writable /tmp, /etc/hosts naming localhost and the
// instance, /etc/hostname, and the open file limit the app inherits. addr is eth0's
// address in CIDR form ("" without a network).
func prepareRuntime(root, hostname, addr string) error {
	if err := runtimeFiles(root, hostname, addr); err != nil {
		return err
	}
	lim := appNofile
	// syscall.Setrlimit, not x/sys/unix's: it also stops the Go runtime
	// from restoring its own start-up limit in the children it starts.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("runtime: raise open file limit: %w", err)
	}
	return nil
}

// runtimeFiles makes the /dev links, /tmp, /etc/hosts and /etc/hostname
// under root.
func runtimeFiles(root, hostname, addr string) error {
	for _, l := range devLinks {
		if err := os.Symlink(l[0], filepath.Join(root, l[1])); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("runtime: link %s: %w", l[1], err)
		}
	}
	if err := ensureTmp(filepath.Join(root, "tmp")); err != nil {
		return err
	}
	if err := writeHosts(filepath.Join(root, "etc/hosts"), hostname, addr); err != nil {
		consolef("%v (kept the image's)", err)
	}
	if hostname != "" {
		if err := replaceFile(filepath.Join(root, "etc/hostname"), []byte(hostname+"\n")); err != nil {
			consolef("write /etc/hostname: %v (kept the image's)", err)
		}
	}
	return nil
}

// ensureTmp makes /tmp, world-writable and sticky, when the image has none.
// An image's own /tmp is left as it is.
func ensureTmp(dir string) error {
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("runtime: make /tmp: %w", err)
	}
	// Mkdir's mode passes through the umask and cannot set the sticky bit.
	if err := os.Chmod(dir, 0o777|fs.ModeSticky); err != nil {
		return fmt.Errorf("runtime: make /tmp: %w", err)
	}
	return nil
}

// hostsFile renders /etc/hosts as container runtimes do: localhost on both
// loopback addresses and the instance's hostname on its own address (or
// on 127.0.1.1 without one, as Debian does), so that resolving either
// works without DNS.
func hostsFile(hostname, addr string) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	if hostname == "" {
		return b.String()
	}
	ip := "127.0.1.1"
	if p, err := netip.ParsePrefix(addr); err == nil {
		ip = p.Addr().String()
	}
	fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	return b.String()
}

// writeHosts replaces the image's /etc/hosts, as Docker does.
func writeHosts(path, hostname, addr string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write /etc/hosts: %w", err)
	}
	if err := replaceFile(path, []byte(hostsFile(hostname, addr))); err != nil {
		return fmt.Errorf("write /etc/hosts: %w", err)
	}
	return nil
}

// replaceFile writes a new regular file at path in place of what is
// there: a symlink is replaced, not followed. Images with systemd-resolved
// have /etc/resolv.conf pointing into /run/systemd, which no one fills in
// a VM: written through, the link would fail and leave the app without DNS.
func replaceFile(path string, data []byte) error {
	tmp := path + ".zeitwork-tmp"
	os.Remove(tmp)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ensureWorkDir makes the app's working directory when the image names
// one it does not have (a WORKDIR no build step wrote to), as Docker's
// runtime does: owned by root, mode 0755.
func ensureWorkDir(dir string) error {
	st, err := os.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("working directory %s: %w", dir, syscall.ENOTDIR)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("working directory %s: %w", dir, errors.Unwrap(err))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("make working directory %s: %w", dir, err)
	}
	return nil
}
