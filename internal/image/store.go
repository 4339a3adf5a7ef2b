package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Store caches ext4 root disks by image digest under a directory:
//
//	<dir>/sha256-<hex>.ext4   read-only disk, present only when complete
//	<dir>/sha256-<hex>.json   its image config
//	<dir>/sha256-<hex>.repos  repositories that served its layers (provenance.go)
//	<dir>/sha256-<hex>.lock   flock(2) held while building
//	<dir>/tmp/                work space of builds in progress
type Store struct {
	dir   string
	log   *slog.Logger
	lim   Limits
	free  int64
	ropts []Option
	// scratchDir holds unpacked trees while mkfs reads them; empty means
	// pick one per build (see scratch).
	scratchDir string
	// maxSize bounds the cache (see evict.go); held counts the holders of
	// each digest's disk.
	maxSize int64
	mu      sync.Mutex
	held    map[string]int
	// proofs remember manifest checks (see provenance.go); now is the
	// clock, replaced in tests.
	proofs map[proofKey]time.Time
	now    func() time.Time
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithLimits bounds what an image may unpack to.
func WithLimits(l Limits) StoreOption { return func(s *Store) { s.lim = l } }

// WithFreeSpace sets the free space left on each root disk for the app.
func WithFreeSpace(bytes int64) StoreOption { return func(s *Store) { s.free = bytes } }

// WithScratchDir sets where images are unpacked before mkfs.ext4 reads them.
// By default a build uses /dev/shm when it has room (see unpack), else the
// cache directory.
func WithScratchDir(dir string) StoreOption { return func(s *Store) { s.scratchDir = dir } }

// WithResolveOptions sets options used to resolve every image.
func WithResolveOptions(opts ...Option) StoreOption {
	return func(s *Store) { s.ropts = append(s.ropts, opts...) }
}

// Disk is a cached, read-only root disk. Give each VM its own copy with
// CopyForVM.
type Disk struct {
	Path    string
	Digest  string
	Size    int64
	Config  ImageConfig
	Timings Timings
	release func()
}

// Timings are the durations of the stages that produced a Disk.
type Timings struct {
	Resolve  time.Duration // reference to manifest and config
	Unpack   time.Duration // pull and flatten the layers (streamed together)
	Build    time.Duration // mkfs.ext4
	CacheHit bool
	Stats    FlattenStats
}

// NewStore opens (creating it if needed) the cache under dir.
func NewStore(dir string, log *slog.Logger, opts ...StoreOption) (*Store, error) {
	s := &Store{dir: dir, log: log, free: DefaultFreeSpace}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("create image cache: %w", err)
	}
	s.removeStaleWork()
	return s, nil
}

// removeStaleWork deletes work directories left by builds that crashed.
func (s *Store) removeStaleWork() {
	stale, _ := filepath.Glob(filepath.Join(s.dir, "tmp", "*"))
	shm, _ := filepath.Glob(filepath.Join(shmDir, "zeitwork-rootfs-*"))
	for _, p := range append(stale, shm...) {
		if info, err := os.Lstat(p); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.RemoveAll(p)
		}
	}
}

// RootDisk resolves ref and returns its root disk, building it on a miss.
// extra options apply to this resolution only (nodes pass their Egress).
// A cached disk is handed out for a registry reference only to credentials
// the registry lets pull that very repository, which served the layers
// (see provenance.go).
func (s *Store) RootDisk(ctx context.Context, ref string, auth authn.Authenticator, extra ...Option) (*Disk, error) {
	start := time.Now()
	opts := append(append(append([]Option{}, s.ropts...), WithAuth(auth)), extra...)
	o := newOptions(opts)
	if d := s.loadByRef(ctx, ref, o); d != nil {
		d.Timings.Resolve = time.Since(start)
		return d, nil
	}
	img, err := Resolve(ctx, ref, opts...)
	if err != nil {
		return nil, err
	}
	repo := repoOf(ref, o)
	d, err := s.diskFor(ctx, img, repo)
	if err != nil {
		return nil, fmt.Errorf("root disk for %s: %w", ref, err)
	}
	if repo != "" {
		s.proveResolved(ctx, ref, o, d.Digest)
	}
	d.Timings.Resolve = time.Since(start) - d.Timings.Unpack - d.Timings.Build
	return d, nil
}

// loadByRef finds the disk of a registry reference by digest with one
// manifest check instead of a resolution. It misses when the digest names
// a multi-platform index, as disks are keyed by the image's own digest,
// when the reference's repository never served the layers, and when the
// registry does not confirm that these credentials may pull it.
func (s *Store) loadByRef(ctx context.Context, ref string, o options) *Disk {
	repo := repoOf(ref, o)
	i := strings.LastIndex(ref, "@sha256:")
	if i < 0 || repo == "" {
		return nil
	}
	digest := ref[i+1:]
	r, err := parseRef(ref, o)
	dr, ok := r.(name.Digest)
	if err != nil || !ok || !s.servedBy(digest, repo) {
		return nil
	}
	release := s.hold(digest)
	d, err := s.load(digest)
	if err != nil || !s.proveByDigest(ctx, dr, o) {
		release()
		return nil
	}
	return s.handOut(d, release)
}

// DiskFor returns the root disk of img, building it on a miss, held for the
// caller until Disk.Release. Concurrent callers (in this process or
// another) build a digest once. img must be one the caller trusts to be
// what it says (a local layout): a registry's image goes through RootDisk,
// which checks that its repository has the layers of a cached disk.
func (s *Store) DiskFor(ctx context.Context, img v1.Image) (*Disk, error) {
	return s.diskFor(ctx, img, "")
}

// diskFor is DiskFor for an image of repo ("" for a local one): a cached
// disk is used only if repo served its layers, or serves them now.
func (s *Store) diskFor(ctx context.Context, img v1.Image, repo string) (*Disk, error) {
	h, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	digest := h.String()
	release := s.hold(digest)
	d, err := s.loadOrBuild(ctx, img, digest, repo)
	if err != nil {
		release()
		return nil, err
	}
	if !d.Timings.CacheHit {
		defer s.Evict() // the cache grew; d itself is held
	}
	return s.handOut(d, release), nil
}

func (s *Store) loadOrBuild(ctx context.Context, img v1.Image, digest, repo string) (*Disk, error) {
	if d, err := s.load(digest); err == nil && (repo == "" || s.servedBy(digest, repo)) {
		return d, nil
	}
	unlock, err := lockFile(ctx, s.base(digest)+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, err := s.load(digest)
	switch {
	case err == nil && (repo == "" || s.servedBy(digest, repo)):
		return d, nil // built or verified by whoever held the lock
	case err == nil:
		// Cached from another repository: this one must show it has
		// the layers too before it gets the disk.
		t := time.Now()
		if err := verifyLayers(img); err != nil {
			return nil, remoteError("verify layers of", digest, err)
		}
		d.Timings.Unpack = time.Since(t) // a download, as a pull's
	default:
		if d, err = s.build(ctx, img, digest); err != nil {
			return nil, err
		}
	}
	if repo != "" {
		if err := s.addRepo(digest, repo); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (s *Store) base(digest string) string {
	return filepath.Join(s.dir, strings.ReplaceAll(digest, ":", "-"))
}

// load returns the cached disk of digest if it is complete.
func (s *Store) load(digest string) (*Disk, error) {
	b := s.base(digest)
	info, err := os.Stat(b + ".ext4")
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(b + ".json")
	if err != nil {
		return nil, err
	}
	d := &Disk{Path: b + ".ext4", Digest: digest, Size: info.Size(), Timings: Timings{CacheHit: true}}
	if err := json.Unmarshal(raw, &d.Config); err != nil {
		return nil, fmt.Errorf("read cached config of %s: %w", digest, err)
	}
	return d, nil
}

func (s *Store) build(ctx context.Context, img v1.Image, digest string) (*Disk, error) {
	cfg, err := ConfigOf(img)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), strings.ReplaceAll(digest, ":", "-")+"-")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(work)
	d := &Disk{Digest: digest, Config: cfg}
	t := time.Now()
	rootfs, stats, cleanup, err := s.unpack(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("unpack image %s: %w", digest, err)
	}
	defer cleanup()
	d.Timings.Stats, d.Timings.Unpack = stats, time.Since(t)
	t = time.Now()
	tmpDisk := filepath.Join(work, "disk.ext4")
	if d.Size, err = BuildExt4(ctx, rootfs, tmpDisk, s.free); err != nil {
		return nil, err
	}
	d.Timings.Build = time.Since(t)
	if err := s.commit(work, tmpDisk, d); err != nil {
		return nil, err
	}
	s.log.Info("root disk built", "digest", digest, "size", d.Size, "entries", d.Timings.Stats.Entries,
		"bytes", d.Timings.Stats.Bytes, "unpack", d.Timings.Unpack, "mkfs", d.Timings.Build)
	return d, nil
}

// commit moves a finished build into place: config first, then the disk,
// whose presence is what marks the entry complete.
func (s *Store) commit(work, tmpDisk string, d *Disk) error {
	b := s.base(d.Digest)
	raw, err := json.Marshal(d.Config)
	if err != nil {
		return fmt.Errorf("encode image config: %w", err)
	}
	tmpCfg := filepath.Join(work, "config.json")
	if err := os.WriteFile(tmpCfg, raw, 0o444); err != nil {
		return fmt.Errorf("write image config: %w", err)
	}
	if err := os.Rename(tmpCfg, b+".json"); err != nil {
		return fmt.Errorf("store image config: %w", err)
	}
	if err := os.Chmod(tmpDisk, 0o444); err != nil {
		return fmt.Errorf("store root disk: %w", err)
	}
	if err := os.Rename(tmpDisk, b+".ext4"); err != nil {
		return fmt.Errorf("store root disk: %w", err)
	}
	d.Path = b + ".ext4"
	return nil
}

// Remove deletes the cached disk of digest. Copies already made are kept.
func (s *Store) Remove(digest string) error {
	b := s.base(digest)
	for _, ext := range []string{".ext4", ".json", ".repos"} {
		if err := os.Remove(b + ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove cached disk %s: %w", digest, err)
		}
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting until ctx is done.
// flock locks belong to the open file, so two goroutines of one process
// exclude each other as two processes do.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
