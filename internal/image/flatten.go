package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Limits bound what flattening an untrusted image may do.
type Limits struct {
	// MaxBytes caps the total size of regular files over all layers.
	MaxBytes int64
	// MaxEntries caps the number of tar entries over all layers.
	MaxEntries int
}

// DefaultLimits are used for zero fields of Limits.
var DefaultLimits = Limits{MaxBytes: 8 << 30, MaxEntries: 1 << 20}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	return l
}

// Errors of flattening, for errors.Is.
var (
	ErrTooLarge   = errors.New("image exceeds limits")
	ErrUnsafePath = errors.New("unsafe path in layer")
)

// FlattenStats describes what Flatten did.
type FlattenStats struct {
	Layers  int
	Entries int
	Bytes   int64 // bytes of regular files written
	Skipped int   // device nodes and unknown entry types, never created
}

// Flatten applies the layers of img, bottom to top, into dir, which must
// exist (and should be empty). See the package comment for how writes are
// kept inside dir.
func Flatten(ctx context.Context, img v1.Image, dir string, lim Limits) (FlattenStats, error) {
	layers, err := img.Layers()
	if err != nil {
		return FlattenStats{}, fmt.Errorf("list layers: %w", err)
	}
	r, err := openRoot(dir, lim)
	if err != nil {
		return FlattenStats{}, err
	}
	defer r.close()
	for i, l := range layers {
		if err := r.applyImageLayer(ctx, l); err != nil {
			return r.stats, fmt.Errorf("layer %d of %d: %w", i+1, len(layers), err)
		}
	}
	return r.stats, r.finish()
}

func (r *root) applyImageLayer(ctx context.Context, l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("open layer: %w", err)
	}
	defer rc.Close()
	return r.applyLayer(ctx, rc)
}

// root is a directory being filled from layers. All paths are relative to
// fd and resolved with openat2(RESOLVE_IN_ROOT): ".." stops at the root and
// absolute symlinks are taken relative to it, exactly as the VM will see
// the tree, so no entry can name anything outside.
type root struct {
	fd      int
	lim     Limits
	stats   FlattenStats
	chown   bool
	dirs    map[string]*tar.Header // directory metadata, applied last
	inLayer map[string]bool        // paths written by the current layer
}

func openRoot(dir string, lim Limits) (*root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	return &root{fd: fd, lim: lim.withDefaults(), chown: os.Geteuid() == 0, dirs: map[string]*tar.Header{}}, nil
}

func (r *root) close() { unix.Close(r.fd) }

func (r *root) applyLayer(ctx context.Context, rd io.Reader) error {
	r.stats.Layers++
	r.inLayer = map[string]bool{}
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.stats.Entries++
		if r.stats.Entries > r.lim.MaxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrTooLarge, r.lim.MaxEntries)
		}
		if err := r.apply(h, tr); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
}

// cleanPath turns a tar name into a path relative to the root. Leading
// slashes are dropped (some tools write absolute names); ".." is refused
// since no honest layer needs it.
func cleanPath(name string) (string, error) {
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return "", fmt.Errorf("%w: %q has a .. component", ErrUnsafePath, name)
		default:
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/"), nil
}

func (r *root) apply(h *tar.Header, content io.Reader) error {
	name, err := cleanPath(h.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the root itself keeps 0755 root:root
	}
	parent, base := path.Dir(name), path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return r.whiteout(parent, base)
	}
	switch h.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeGNUSparse, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
	default:
		r.stats.Skipped++ // device nodes, sockets, unknown types
		return nil
	}
	pfd, err := r.openDir(parent, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	r.inLayer[name] = true
	switch h.Typeflag {
	case tar.TypeDir:
		return r.mkdir(pfd, base, name, h)
	case tar.TypeReg, tar.TypeGNUSparse:
		return r.writeFile(pfd, base, name, h, content)
	case tar.TypeSymlink:
		return r.symlink(pfd, base, name, h)
	case tar.TypeLink:
		return r.hardlink(pfd, base, name, h)
	default:
		return r.mkfifo(pfd, base, name, h)
	}
}
