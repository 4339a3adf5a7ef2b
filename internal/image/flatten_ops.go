package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	resolveFlags   = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
)

// openat2 resolves rel inside the root; see the root type.
func (r *root) openat2(rel string, flags uint64) (int, error) {
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(r.fd, rel, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolveFlags})
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue // openat2 asks for a retry when a rename raced the walk
		}
		return fd, err
	}
}

// openDir opens the directory rel (an O_PATH descriptor), creating missing
// components when create is set.
func (r *root) openDir(rel string, create bool) (int, error) {
	fd, err := r.openat2(rel, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		if err != nil {
			return -1, fmt.Errorf("open directory %s: %w", rel, err)
		}
		return fd, nil
	}
	if err := r.mkdirAll(rel); err != nil {
		return -1, err
	}
	return r.openDir(rel, false)
}

// mkdirAll creates the missing directories of rel one component at a time,
// each through a parent descriptor resolved inside the root.
func (r *root) mkdirAll(rel string) error {
	cur := ""
	for _, c := range strings.Split(rel, "/") {
		next := path.Join(cur, c)
		fd, err := r.openat2(next, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			unix.Close(fd)
			cur = next
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("open directory %s: %w", next, err)
		}
		pfd, err := r.openat2(cur, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("open directory %s: %w", cur, err)
		}
		err = unix.Mkdirat(pfd, c, 0o755)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create directory %s: %w", next, err)
		}
		cur = next
	}
	return nil
}

func (r *root) mkdir(pfd int, base, name string, h *tar.Header) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		r.dirs[name] = copyHeader(h) // merge with the lower directory; its metadata wins
		return nil
	}
	if err == nil {
		if err := r.removeAt(pfd, base, name); err != nil {
			return err
		}
	}
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	r.dirs[name] = copyHeader(h)
	return nil
}

// copyHeader keeps only what directory metadata needs, so that a layer's
// headers are not all retained until the end.
func copyHeader(h *tar.Header) *tar.Header {
	return &tar.Header{Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, ModTime: h.ModTime}
}

// replace removes whatever is at base so that a new entry can take its place;
// new entries are always fresh inodes, so an old hard link is never written
// through.
func (r *root) replace(pfd int, base, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("stat: %w", err)
	}
	return r.removeAt(pfd, base, name)
}

func (r *root) writeFile(pfd int, base, name string, h *tar.Header, content io.Reader) error {
	if h.Size < 0 || h.Size > r.lim.MaxBytes-r.stats.Bytes {
		return fmt.Errorf("%w: file of %d bytes would pass the limit of %d bytes for the image", ErrTooLarge, h.Size, r.lim.MaxBytes)
	}
	if err := r.replace(pfd, base, name); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(content, h.Size))
	r.stats.Bytes += n
	if err != nil {
		return fmt.Errorf("write file: %w", err)
	}
	if n != h.Size {
		return fmt.Errorf("write file: short content (%d of %d bytes)", n, h.Size)
	}
	if r.chown && h.Uid >= 0 && h.Gid >= 0 {
		if err := f.Chown(h.Uid, h.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	// chmod after chown: chown clears the setuid and setgid bits.
	if err := unix.Fchmod(fd, uint32(h.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return r.setTimes(pfd, base, h)
}

func (r *root) symlink(pfd int, base, name string, h *tar.Header) error {
	if err := r.replace(pfd, base, name); err != nil {
		return err
	}
	// The target is stored verbatim: it is never followed here, and later
	// lookups through it are resolved inside the root.
	if err := unix.Symlinkat(h.Linkname, pfd, base); err != nil {
		return fmt.Errorf("create symlink: %w", err)
	}
	if err := r.lchown(pfd, base, h); err != nil {
		return err
	}
	return r.setTimes(pfd, base, h)
}

func (r *root) hardlink(pfd int, base, name string, h *tar.Header) error {
	target, err := cleanPath(h.Linkname)
	if err != nil {
		return err
	}
	if target == "" || target == name {
		return fmt.Errorf("%w: hard link to %q", ErrUnsafePath, h.Linkname)
	}
	tfd, err := r.openDir(path.Dir(target), false)
	if err != nil {
		return fmt.Errorf("hard link target %s: %w", target, err)
	}
	defer unix.Close(tfd)
	tbase := path.Base(target)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hard link target %s: %w", target, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("%w: hard link to directory %s", ErrUnsafePath, target)
	}
	if err := r.replace(pfd, base, name); err != nil {
		return err
	}
	// Flags 0: a symlink target is linked itself, never followed.
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("create hard link to %s: %w", target, err)
	}
	return nil
}

func (r *root) mkfifo(pfd int, base, name string, h *tar.Header) error {
	if err := r.replace(pfd, base, name); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
		return fmt.Errorf("create fifo: %w", err)
	}
	if err := r.lchown(pfd, base, h); err != nil {
		return err
	}
	// Safe to follow: the fifo was just created by us and nothing else
	// writes into the tree.
	if err := unix.Fchmodat(pfd, base, uint32(h.Mode&0o777), 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return r.setTimes(pfd, base, h)
}

func (r *root) lchown(pfd int, base string, h *tar.Header) error {
	if !r.chown || h.Uid < 0 || h.Gid < 0 {
		return nil
	}
	if err := unix.Fchownat(pfd, base, h.Uid, h.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

func (r *root) setTimes(pfd int, base string, h *tar.Header) error {
	ts := unix.NsecToTimespec(h.ModTime.UnixNano())
	if err := unix.UtimesNanoAt(pfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// finish applies directory metadata, deepest first so that setting a
// parent's mtime is the last change to it.
func (r *root) finish() error {
	names := make([]string, 0, len(r.dirs))
	for n := range r.dirs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return strings.Count(names[i], "/") > strings.Count(names[j], "/") })
	for _, n := range names {
		if err := r.dirMeta(n, r.dirs[n]); err != nil {
			return fmt.Errorf("directory %s: %w", n, err)
		}
	}
	return nil
}

func (r *root) dirMeta(name string, h *tar.Header) error {
	pfd, err := r.openDir(path.Dir(name), false)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	base := path.Base(name)
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	if r.chown && h.Uid >= 0 && h.Gid >= 0 {
		if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(fd, uint32(h.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return r.setTimes(pfd, base, h)
}
