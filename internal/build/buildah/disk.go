package buildah

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/zeitwork/zeitwork/internal/build"
)

// A build's disk use is what it added to its project's storage root and
// its temporary directory: the vfs layer directories that were not there
// when it started (each layer and each RUN step's container is a plain
// directory under storage/vfs/dir; existing layers are never written),
// containers/storage's and buildah's temporary files (pulled blobs). Only
// these are walked, so the measurement costs what the build wrote, not
// the size of the project's cache. A watchdog measures it while buildah
// runs and stops the build past Config.DiskBytes. It is a
// measurement, not a quota: between two looks a step may write past the
// limit by what it writes in about a second. (A size-limited file system
// per project would be exact, but needs a loop device and a mount per
// project; the limit's job is to stop a runaway build long before the
// host's disk fills.)

// errDiskLimit is the cause of a build stopped at its disk limit.
var errDiskLimit = errors.New("disk limit reached")

// diskInterval is the least time between two measurements; a slow walk
// (a big cache) spaces them further apart.
var diskInterval = 500 * time.Millisecond

// diskUse is the space files below the roots take on disk (allocated
// blocks, so sparse files count what they use), each hard-linked file
// once. Files that vanish during the walk are skipped.
func diskUse(roots ...string) int64 {
	var total int64
	seen := map[[2]uint64]bool{}
	for _, root := range roots {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			st, ok := info.Sys().(*syscall.Stat_t)
			if !ok {
				return nil
			}
			if st.Nlink > 1 && !d.IsDir() {
				k := [2]uint64{uint64(st.Dev), st.Ino}
				if seen[k] {
					return nil
				}
				seen[k] = true
			}
			total += st.Blocks * 512
			return nil
		})
	}
	return total
}

// layerDir is where vfs keeps the layers and containers of a storage root.
func layerDir(store string) string { return filepath.Join(store, "storage", "vfs", "dir") }

// layers are the names of the layer directories in store.
func layers(store string) map[string]bool {
	ents, _ := os.ReadDir(layerDir(store))
	out := make(map[string]bool, len(ents))
	for _, e := range ents {
		out[e.Name()] = true
	}
	return out
}

// newLayers are the layer directories of the store that are not in old.
func newLayers(store string, old map[string]bool) []string {
	var out []string
	for name := range layers(store) {
		if !old[name] {
			out = append(out, filepath.Join(layerDir(store), name))
		}
	}
	return out
}

// used is what the build has added to the disk so far.
func (j *job) used() int64 {
	return diskUse(append(newLayers(j.store, j.baseLayers), filepath.Join(j.store, "storage", "tmp"), j.tmp)...) - j.baseTmp
}

// watchDisk measures the build's disk use until ctx ends and cancels the
// build with errDiskLimit past the limit.
func (j *job) watchDisk(ctx context.Context, cancel context.CancelCauseFunc) {
	limit := j.b.cfg.DiskBytes
	wait := diskInterval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		start := time.Now()
		used := j.used()
		if used > limit {
			fmt.Fprintf(j.req.Log, "build stopped: it used %s of disk, more than its limit of %s\n", size(used), size(limit))
			cancel(errDiskLimit)
			return
		}
		wait = max(diskInterval, 5*time.Since(start))
	}
}

// diskErr is the error of a build stopped at its disk limit.
func (j *job) diskErr() error {
	return fmt.Errorf("%w: build used more than %s of disk; make the image and its layers smaller "+
		"(remove what a RUN step downloads or builds in that same step, use a smaller base image) or ask the operator to raise the limit (--build-disk-gib)",
		build.ErrUser, size(j.b.cfg.DiskBytes))
}

// size renders n bytes in GiB, or MiB when not a whole number of GiB.
func size(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// touch records that the project's cache is in use now, for pruning.
func touch(store string) {
	p := filepath.Join(store, "lastused")
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		os.WriteFile(p, nil, 0o600)
	}
}

// sizeFile records the size of a project's cache, kept up to date by its
// builds, so that pruning need not walk every cache after every build.
const sizeFile = "size"

// cacheSize is the recorded size of the cache in store, measured (and
// recorded) if there is no record. Callers hold the project's lock.
func cacheSize(store string) int64 {
	if n, err := readIndex(filepath.Join(store, sizeFile)); err == nil && n >= 0 {
		return int64(n)
	}
	n := diskUse(filepath.Join(store, "storage"), filepath.Join(store, "run"))
	writeIndex(filepath.Join(store, sizeFile), int(n))
	return n
}

// recordSize adds the layers the build left in the cache to its recorded
// size (or measures the whole cache if there is no record). It runs after
// the build's containers are removed, with the project's lock held.
func (j *job) recordSize() {
	p := filepath.Join(j.store, sizeFile)
	if old, err := readIndex(p); err == nil && old >= 0 {
		writeIndex(p, old+int(diskUse(newLayers(j.store, j.baseLayers)...)))
		return
	}
	cacheSize(j.store)
}

// cacheEntry is one project's layer cache.
type cacheEntry struct {
	dir  string
	used time.Time
	size int64
}

// pruneCache removes the layer caches of the least recently used
// projects until all together take at most Config.CacheBytes, skipping
// those a build is using (their project's lock is held). A removed
// cache keeps its project's uid range; the next build starts cold.
func (b *Builder) pruneCache(log func(string)) {
	b.pruneMu.Lock()
	defer b.pruneMu.Unlock()
	dirs, _ := filepath.Glob(filepath.Join(b.cfg.StateDir, "projects", "*"))
	var entries []cacheEntry
	var total int64
	for _, dir := range dirs {
		e := cacheEntry{dir: dir, size: b.recordedSize(dir)}
		if st, err := os.Stat(filepath.Join(dir, "lastused")); err == nil {
			e.used = st.ModTime()
		}
		entries = append(entries, e)
		total += e.size
	}
	sort.Slice(entries, func(i, k int) bool { return entries[i].used.Before(entries[k].used) })
	for _, e := range entries {
		if total <= b.cfg.CacheBytes {
			return
		}
		if e.size == 0 || !b.tryLockStore(e.dir) {
			continue
		}
		err := errors.Join(os.RemoveAll(filepath.Join(e.dir, "storage")), os.RemoveAll(filepath.Join(e.dir, "run")),
			os.RemoveAll(filepath.Join(e.dir, sizeFile)))
		b.unlockStore(e.dir)
		if err != nil {
			log(fmt.Sprintf("build cache: remove %s: %v", e.dir, err))
			continue
		}
		total -= e.size
		log(fmt.Sprintf("build cache: removed %s (%s, last used %s) to stay under %s", filepath.Base(e.dir), size(e.size), e.used.UTC().Format(time.RFC3339), size(b.cfg.CacheBytes)))
	}
}

// recordedSize is the size of the cache in store: its record, else
// measured unless a build is using it (which records it when it ends).
func (b *Builder) recordedSize(store string) int64 {
	if n, err := readIndex(filepath.Join(store, sizeFile)); err == nil && n >= 0 {
		return int64(n)
	}
	if !b.tryLockStore(store) {
		return 0
	}
	defer b.unlockStore(store)
	return cacheSize(store)
}

// tryLockStore takes the lock of the project whose storage root is dir,
// unless a build holds it.
func (b *Builder) tryLockStore(dir string) bool {
	select {
	case b.storeLock(dir) <- struct{}{}:
		return true
	default:
		return false
	}
}

func (b *Builder) unlockStore(dir string) { <-b.storeLock(dir) }
