package image

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// whiteout applies an AUFS-style whiteout found in parent: ".wh..wh..opq"
// hides everything the lower layers put in parent, ".wh.NAME" removes NAME.
// Whiteouts never hide what the same layer wrote.
func (r *root) whiteout(parent, base string) error {
	if base == whiteoutOpaque {
		return r.opaque(parent)
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if strings.HasPrefix(victim, whiteoutPrefix) {
		return nil // other AUFS metadata (.wh..wh.plnk and the like)
	}
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("%w: whiteout of %q", ErrUnsafePath, victim)
	}
	name := path.Join(parent, victim)
	if r.inLayer[name] {
		return nil
	}
	pfd, err := r.openDir(parent, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return r.replace(pfd, victim, name)
}

func (r *root) opaque(dir string) error {
	fd, err := r.openat2(dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, n := range names {
		if child := path.Join(dir, n); !r.inLayer[child] {
			if err := r.removeAt(fd, n, child); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeAt removes base from the directory pfd, recursively for a
// directory, without following symlinks anywhere.
func (r *root) removeAt(pfd int, base, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("stat %s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
		return nil
	}
	r.forgetDirs(name)
	if err := removeTree(pfd, base); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

func removeTree(pfd int, base string) error {
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			f.Close()
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = removeTree(fd, n)
		} else {
			err = unix.Unlinkat(fd, n, 0)
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
}

// forgetDirs drops pending metadata of a removed directory and its children.
func (r *root) forgetDirs(name string) {
	delete(r.dirs, name)
	prefix := name + "/"
	for n := range r.dirs {
		if strings.HasPrefix(n, prefix) {
			delete(r.dirs, n)
		}
	}
}
