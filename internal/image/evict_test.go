package image

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// fakeDisk puts a complete 1 MiB cache entry for name into dir, last used
// age ago, and returns its digest.
func fakeDisk(t *testing.T, dir, name string, age time.Duration) string {
	t.Helper()
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(name)))
	base := filepath.Join(dir, "sha256-"+digest[len("sha256:"):])
	if err := os.WriteFile(base+".json", []byte(`{"Entrypoint":["/app"]}`), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".ext4", make([]byte, 1<<20), 0o444); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(base+".ext4", when, when); err != nil {
		t.Fatal(err)
	}
	return digest
}

func cachedDigests(s *Store) []string {
	disks, _ := s.cachedDisks()
	var out []string
	for _, d := range disks {
		out = append(out, d.digest)
	}
	slices.Sort(out)
	return out
}

// provedBefore records that repo served digest's layers and that its
// registry confirmed the manifest to anonymous pulls just now.
func provedBefore(t *testing.T, s *Store, repo, digest string) {
	t.Helper()
	if err := s.addRepo(digest, repo); err != nil {
		t.Fatal(err)
	}
	r, _ := name.NewDigest(repo + "@" + digest)
	creds, err := credsOf(context.Background(), r, newOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	s.prove(proofKey{repo: r.Context().Name(), digest: digest, creds: creds})
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// TestEvictLeastRecentlyUsed fills a cache over its size and checks that
// eviction removes the disks used longest ago, counts a use as recent, and
// never removes a disk someone holds, even to get under the size.
func TestEvictLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	a := fakeDisk(t, dir, "a", 4*time.Hour)
	b := fakeDisk(t, dir, "b", 3*time.Hour)
	c := fakeDisk(t, dir, "c", 2*time.Hour)
	d := fakeDisk(t, dir, "d", time.Hour)
	s, err := NewStore(dir, testLog(t), WithMaxSize(5<<19)) // 2.5 MiB: room for two
	if err != nil {
		t.Fatal(err)
	}
	if got := cachedDigests(s); !slices.Equal(got, sorted(a, b, c, d)) {
		t.Fatalf("opening the store evicted: %v", got)
	}

	// An instance starts on a, the oldest, and stops: a is now the most
	// recently used, and its release lets eviction run. (Its registry
	// proved the image a moment ago.)
	provedBefore(t, s, "registry.invalid/app", a)
	disk, err := s.RootDisk(context.Background(), "registry.invalid/app@"+a, nil)
	if err != nil || !disk.Timings.CacheHit || disk.Digest != a {
		t.Fatalf("RootDisk = %+v, %v; want a cache hit on a", disk, err)
	}
	disk.Release()
	if got := cachedDigests(s); !slices.Equal(got, sorted(a, d)) {
		t.Fatalf("left %v, want a and d: b and c were used least recently", got)
	}

	// A smaller cache: only what is held may stay over the size.
	small, err := NewStore(dir, testLog(t), WithMaxSize(1<<19))
	if err != nil {
		t.Fatal(err)
	}
	first, second := small.Hold(a), small.Hold(a)
	if got := small.Evict(); !slices.Equal(got, []string{d}) {
		t.Fatalf("evicted %v, want only d: a is in use", got)
	}
	first()
	first() // a second call must not drop the other holder's hold
	if got := cachedDigests(small); !slices.Equal(got, []string{a}) {
		t.Fatalf("a evicted while still held: %v", got)
	}
	second()
	if got := cachedDigests(small); len(got) != 0 {
		t.Fatalf("after its last holder released it, a is still cached: %v", got)
	}
}

// TestEvictOffWithoutMaxSize: without a size, nothing is ever evicted.
func TestEvictOffWithoutMaxSize(t *testing.T) {
	dir := t.TempDir()
	a := fakeDisk(t, dir, "a", time.Hour)
	s, err := NewStore(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Evict(); len(got) != 0 {
		t.Fatalf("evicted %v without a maximum size", got)
	}
	if got := cachedDigests(s); !slices.Equal(got, []string{a}) {
		t.Fatalf("left %v", got)
	}
}
