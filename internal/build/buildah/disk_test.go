package buildah

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/build"
)

// TestBuildDiskLimit runs a RUN step that writes 256 MiB under a disk
// limit of 64 MiB: the build is stopped with an error that names the
// limit, and nothing is left.
func TestBuildDiskLimit(t *testing.T) {
	e := newEnvWith(t, testLimits, func(c *Config) { c.DiskBytes = 64 << 20 })
	dockerfile := "FROM " + e.base + "\nRUN i=0; while [ $i -lt 256 ]; do head -c 1048576 /dev/zero >> /big; i=$((i+1)); done; echo wrote-all\n"
	_, err, log := e.build(t, build.Request{Project: "p1", ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile})}, 2*time.Minute)
	if !errors.Is(err, build.ErrUser) {
		t.Fatalf("err = %v, want build.ErrUser\n%s", err, log)
	}
	if first := strings.SplitN(err.Error(), "\n", 2)[0]; !strings.Contains(first, "build used more than 64 MiB of disk") {
		t.Errorf("error does not name the disk limit: %v", first)
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "build stopped") {
			t.Log(l)
		}
	}
	if ran(log, "wrote-all") {
		t.Errorf("the RUN step wrote all 256 MiB under a limit of 64 MiB")
	}
}

// TestPruneCacheLeastRecentlyUsed fills three projects' caches and
// prunes to a budget that holds two: the least recently used one goes,
// unless a build is using it, then the next; uid ranges stay.
func TestPruneCacheLeastRecentlyUsed(t *testing.T) {
	e := newEnvWith(t, testLimits, func(c *Config) { c.CacheBytes = 5 << 20 })
	now := time.Now()
	var dirs []string
	for i, p := range []string{"old", "mid", "new"} {
		dir := e.b.storeDir(p)
		for _, sub := range []string{"storage/vfs/dir/x", "run"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "storage/vfs/dir/x/layer"), make([]byte, 2<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rangeFile), []byte("7\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		touch(dir)
		cacheSize(dir) // recorded, as a build does when it ends
		used := now.Add(time.Duration(i-3) * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, "lastused"), used, used); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	exists := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "storage"))
		return err == nil
	}

	// "old" is in use: "mid" goes instead.
	lock := e.b.storeLock(dirs[0])
	lock <- struct{}{}
	e.b.pruneCache(func(msg string) { t.Log(msg) })
	select {
	case <-lock:
	case <-time.After(5 * time.Second):
		t.Fatal("the prune released the lock of a cache a build holds")
	}
	if !exists(dirs[0]) || exists(dirs[1]) || !exists(dirs[2]) {
		t.Fatalf("with old in use, kept old=%v mid=%v new=%v; want old and new", exists(dirs[0]), exists(dirs[1]), exists(dirs[2]))
	}
	if _, err := os.Stat(filepath.Join(dirs[1], rangeFile)); err != nil {
		t.Errorf("pruning removed the project's uid range: %v", err)
	}

	// Under budget now: nothing more goes.
	e.b.pruneCache(func(msg string) { t.Log(msg) })
	if !exists(dirs[0]) || !exists(dirs[2]) {
		t.Fatalf("pruned under budget")
	}

	// Over budget again with old free: old goes first.
	if err := os.MkdirAll(filepath.Join(dirs[1], "storage"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirs[1], "storage/layer"), make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeIndex(filepath.Join(dirs[1], sizeFile), 2<<20); err != nil { // as its build records it
		t.Fatal(err)
	}
	e.b.pruneCache(func(msg string) { t.Log(msg) })
	if exists(dirs[0]) || !exists(dirs[1]) || !exists(dirs[2]) {
		t.Fatalf("kept old=%v mid=%v new=%v; want mid and new", exists(dirs[0]), exists(dirs[1]), exists(dirs[2]))
	}
}

// TestBuildPrunesOtherProjectsCache builds two projects under a cache
// budget that holds one: after the second build the first's cache is
// gone and the second's is kept.
func TestBuildPrunesOtherProjectsCache(t *testing.T) {
	e := newEnv(t, testLimits)
	dockerfile := "FROM " + e.base + "\nRUN echo built > /x\n"
	for _, p := range []string{"p1", "p2"} {
		if _, err, log := e.build(t, build.Request{Project: p, ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile})}, 2*time.Minute); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, log)
		}
		if p == "p1" {
			// A budget for one such cache, not two.
			one := diskUse(filepath.Join(e.b.storeDir("p1"), "storage"), filepath.Join(e.b.storeDir("p1"), "run"))
			e.b.cfg.CacheBytes = one + one/2
			t.Logf("one project's cache: %d bytes", one)
		}
	}
	p1, p2 := diskUse(filepath.Join(e.b.storeDir("p1"), "storage")), diskUse(filepath.Join(e.b.storeDir("p2"), "storage"))
	if p1 != 0 || p2 == 0 {
		t.Fatalf("cache sizes after two builds: p1 %d, p2 %d bytes; want p1 pruned and p2 kept", p1, p2)
	}

	// A rebuild with a new step adds its layer to the recorded size,
	// which stays what a walk of the whole cache measures.
	e.b.cfg.CacheBytes = 1 << 40
	dockerfile += "RUN head -c 1048576 /dev/zero > /y\n"
	if _, err, log := e.build(t, build.Request{Project: "p2", ID: "b2", ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile})}, 2*time.Minute); err != nil {
		t.Fatalf("rebuild p2: %v\n%s", err, log)
	}
	store := e.b.storeDir("p2")
	recorded, err := readIndex(filepath.Join(store, sizeFile))
	if err != nil {
		t.Fatal(err)
	}
	walked := diskUse(filepath.Join(store, "storage"), filepath.Join(store, "run"))
	if d := int64(recorded) - walked; d < -walked/10 || d > walked/10 {
		t.Errorf("recorded cache size %d bytes, walked %d", recorded, walked)
	}
}
