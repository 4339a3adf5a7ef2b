package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

type mountSpec struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// earlyMounts are what the init needs in the initramfs: /dev for the ports
// and the disk, /proc and /sys to find them.
var earlyMounts = []mountSpec{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
}

// instanceMounts are the app's /dev/pts, /dev/shm and /run. They are
// empty file systems, the same in every instance, so the init mounts them
// in the initramfs before its hello (a VM restored from a template resumes
// with them mounted) and switchRoot moves them into the app's root with
// /dev (their parent) and /run: after a restore, a move is a fraction of a
// mount's cost under TCG, where every kernel path taken for the first time
// since the restore is translated again. The /run tmpfs moves only where
// the image has nothing in /run (see switchRoot).
var instanceMounts = []mountSpec{
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
	{"shm", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
}

// movedMounts are the initramfs's mounts that switchRoot moves into the
// app's root (a mount moves with the mounts beneath it).
var movedMounts = []string{"/dev", "/proc", "/sys", "/run"}

// emptyOrMissing reports whether dir has no entries (or does not exist).
// Dockerfiles make directories in /run for their daemons (Alpine's nginx
// needs /run/nginx, php-fpm /run/php), often owned by the app's user, and
// Docker's runtime leaves them as built: a tmpfs over them would hide them
// and the daemon would fail to write its pid file or socket.
func emptyOrMissing(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

func mountAll(specs []mountSpec) error {
	for _, m := range specs {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("mount %s: %w", m.target, err)
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// rootReadAheadKB is the root disk's read-ahead. The app's binary is read
// from the disk as it faults its pages in at start; the kernel's default
// of 128 KiB makes that many small requests, each an emulated device
// round trip (costly under TCG), where a few large ones would do.
const rootReadAheadKB = "4096"

// rootMountFlags mounts the root disk without access times: with the
// default (relatime) the first read of every file the app starts from
// writes its inode, a journal commit each under emulation, and nothing
// an app runs on needs them (as most container runtimes' images).
const rootMountFlags = unix.MS_NOATIME

// mountRoot mounts the app's ext4 root disk at NewRoot.
func mountRoot(device string) error {
	ra := filepath.Join("/sys/block", filepath.Base(device), "queue/read_ahead_kb")
	if err := os.WriteFile(ra, []byte(rootReadAheadKB), 0); err != nil {
		consolef("root disk read-ahead: %v", err)
	}
	if err := os.MkdirAll(NewRoot, 0o755); err != nil {
		return fmt.Errorf("mount root: %w", err)
	}
	if err := unix.Mount(device, NewRoot, "ext4", rootMountFlags, ""); err != nil {
		return fmt.Errorf("mount root %s: %w", device, err)
	}
	return nil
}

// switchRoot moves movedMounts into the new root and makes it /, as
// switch_root does, without exec'ing: the init stays PID 1 and keeps
// supervising the app. The initramfs stays in memory underneath; it is a few
// megabytes and freeing it would not return the pages to the host anyway.
func switchRoot() error {
	for _, d := range movedMounts {
		target := filepath.Join(NewRoot, d)
		if d == "/run" && !emptyOrMissing(target) {
			// The image's /run stays as built; the initramfs's empty tmpfs
			// is let go.
			if err := unix.Unmount(d, unix.MNT_DETACH); err != nil {
				consolef("unmount the initramfs's /run: %v", err)
			}
			continue
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("switch root: %w", err)
		}
		if err := unix.Mount(d, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("switch root: move %s: %w", d, err)
		}
	}
	if err := unix.Chdir(NewRoot); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switch root: move root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch root: chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	return nil
}
