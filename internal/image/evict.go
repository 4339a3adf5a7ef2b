package image

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Eviction. Every image a node ever ran would otherwise stay in its cache
// until the disk fills. With a maximum size set, the least recently used
// disks that nobody holds are removed until the cache fits. A disk is held
// from the moment RootDisk or DiskFor hands it out until Disk.Release, so
// a disk an instance runs on (or is about to copy) is never removed; the
// node agent holds it for as long as the instance lives. The last use is
// the disk file's mtime, so the order survives an agent restart. Holds
// live in memory: one process owns a cache directory.

// WithMaxSize bounds the space the cached root disks take (allocated
// bytes, since disks are sparse); 0 means no bound.
func WithMaxSize(bytes int64) StoreOption { return func(s *Store) { s.maxSize = bytes } }

// Release ends the caller's use of d; once nobody holds it, it may be
// evicted. Calls after the first do nothing.
func (d *Disk) Release() {
	if d.release != nil {
		d.release()
	}
}

// Hold keeps the disk of digest from eviction until release is called, for
// an instance that runs on it but did not get it from this Store (a VM
// adopted after an agent restart).
func (s *Store) Hold(digest string) (release func()) { return s.hold(digest) }

func (s *Store) hold(digest string) func() {
	s.mu.Lock()
	if s.held == nil {
		s.held = map[string]int{}
	}
	s.held[digest]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.held[digest]--; s.held[digest] <= 0 {
				delete(s.held, digest)
			}
			s.mu.Unlock()
			s.Evict()
		})
	}
}

// handOut returns d held by the caller (release comes from hold) and
// records the use.
func (s *Store) handOut(d *Disk, release func()) *Disk {
	d.release = release
	now := time.Now()
	os.Chtimes(d.Path, now, now) // best effort: only the eviction order depends on it
	return d
}

// cachedDisk is one complete disk in the cache directory.
type cachedDisk struct {
	digest string
	bytes  int64
	used   time.Time
}

// Evict removes the least recently used disks nobody holds until the
// cache fits its maximum size, and returns the digests it removed. Disks
// in use stay, even if the cache then stays over its size.
func (s *Store) Evict() []string {
	if s.maxSize <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	disks, total := s.cachedDisks()
	slices.SortFunc(disks, func(a, b cachedDisk) int { return a.used.Compare(b.used) })
	var removed []string
	for _, d := range disks {
		if total <= s.maxSize {
			break
		}
		if s.held[d.digest] > 0 {
			continue
		}
		if err := s.Remove(d.digest); err != nil {
			s.log.Warn("evict root disk", "digest", d.digest, "err", err)
			continue
		}
		total -= d.bytes
		removed = append(removed, d.digest)
		s.log.Info("root disk evicted", "digest", d.digest, "bytes", d.bytes, "last_used", d.used)
	}
	if total > s.maxSize {
		s.log.Warn("image cache over its size: the other disks are in use", "bytes", total, "max", s.maxSize)
	}
	return removed
}

// cachedDisks lists the complete disks and their total allocated size.
func (s *Store) cachedDisks() ([]cachedDisk, int64) {
	paths, _ := filepath.Glob(filepath.Join(s.dir, "sha256-*.ext4"))
	var disks []cachedDisk
	var total int64
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			continue
		}
		n := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n = st.Blocks * 512
		}
		digest := strings.Replace(strings.TrimSuffix(filepath.Base(p), ".ext4"), "sha256-", "sha256:", 1)
		disks = append(disks, cachedDisk{digest: digest, bytes: n, used: info.ModTime()})
		total += n
	}
	return disks, total
}
