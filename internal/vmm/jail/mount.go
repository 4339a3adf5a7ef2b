package jail

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// enterRoot replaces the launcher's view of the file system with a tmpfs
// holding only binds, then makes that root read-only. The launcher already
// runs in a mount namespace of its own (Command asks for one); nothing
// done here propagates to the host.
func enterRoot(root string, binds []Bind, uid, gid int) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// Not MS_NODEV: the root holds the device nodes Bind.Device makes. It
	// is read-only before the program runs, and the program cannot mknod.
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("mount root: %w", err)
	}
	// Parents before children, so a bind is never hidden by a later one.
	sort.Slice(binds, func(i, j int) bool { return len(binds[i].Path) < len(binds[j].Path) })
	for _, b := range binds {
		var err error
		if b.Device {
			err = mknod(root, b.Path, uid, gid)
		} else {
			err = bind(root, b)
		}
		if err != nil {
			return err
		}
	}
	if err := pivot(root); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID, ""); err != nil {
		return fmt.Errorf("remount root read-only: %w", err)
	}
	return nil
}

// bind makes one host path visible under root at the same path.
func bind(root string, b Bind) error {
	if !filepath.IsAbs(b.Path) {
		return fmt.Errorf("bind %q: not an absolute path", b.Path)
	}
	dst := filepath.Join(root, b.Path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("bind %s: %w", b.Path, err)
	}
	if b.LinkTo != "" {
		if err := os.Symlink(b.LinkTo, dst); err != nil {
			return fmt.Errorf("link %s: %w", b.Path, err)
		}
		return nil
	}
	st, err := os.Stat(b.Path)
	if err != nil {
		return fmt.Errorf("bind %s: %w", b.Path, err)
	}
	if st.IsDir() {
		err = os.Mkdir(dst, 0o755)
	} else {
		err = os.WriteFile(dst, nil, 0o644)
	}
	if err != nil && !os.IsExist(err) {
		return fmt.Errorf("bind %s: %w", b.Path, err)
	}
	// Not MS_REC: mounts below a bound directory stay out of the jail.
	if err := unix.Mount(b.Path, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", b.Path, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NOSUID)
	if !b.Writable {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s: %w", b.Path, err)
	}
	return nil
}

// mknod makes a device node like the host's path under root, for uid:gid
// only.
func mknod(root, path string, uid, gid int) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("device %s: %w", path, err)
	}
	dst := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("device %s: %w", path, err)
	}
	if err := unix.Mknod(dst, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
		return fmt.Errorf("device %s: %w", path, err)
	}
	if err := unix.Chown(dst, uid, gid); err != nil {
		return fmt.Errorf("device %s: %w", path, err)
	}
	return nil
}

// pivot makes root the root of the mount namespace and detaches the old
// one, so no path leads back to the host's files (unlike a chroot, which
// leaves the old root mounted and reachable through open directories).
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("pivot root: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one;
	// unmounting "." then removes it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}
