package image

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/zeitwork/zeitwork/internal/image/registrytest"
)

// cacheCase is a node's cache holding the root disk of Alice's private
// image, and Mallory's registry holding the manifest of that image (which
// Mallory obtained somehow) and its config, but none of its layers.
type cacheCase struct {
	store   *Store
	alice   *registrytest.Registry
	mallory *recordingRegistry
	digest  string
	aliceAt string // alice's reference by digest
	egress  *Egress
}

func newCacheCase(t *testing.T) *cacheCase {
	t.Helper()
	c := &cacheCase{
		alice:   registrytest.New(t, "alice", "alice-secret"),
		mallory: newRecordingRegistry(t),
	}
	layoutDir, digest := sampleLayout(t)
	c.digest = digest
	c.aliceAt = c.alice.Host + "/alice/app@" + digest
	aliceAuth := &authn.Basic{Username: "alice", Password: "alice-secret"}
	dst, _ := name.ParseReference(c.alice.Host + "/alice/app:v1")
	if _, err := Push(context.Background(), layoutDir+":v1", dst, aliceAuth, nil); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(dst, remote.WithAuth(aliceAuth))
	if err != nil {
		t.Fatal(err)
	}
	// Mallory's registry serves the manifest and config bytes, not the
	// layers.
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.RawConfigFile()
	cfgDigest, _ := img.ConfigName()
	c.mallory.putBlob(t, "x", cfgDigest.String(), cfg)
	req, _ := http.NewRequest(http.MethodPut, c.mallory.URL+"/v2/x/manifests/v1", bytes.NewReader(desc.Manifest))
	req.Header.Set("Content-Type", string(desc.MediaType))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest: %v %v", resp, err)
	}
	resp.Body.Close()
	c.mallory.reset()
	c.egress = NewEgress("operator.invalid:7070", []string{c.alice.Host,
		strings.TrimPrefix(c.alice.Elsewhere.URL, "http://"), c.mallory.host()})
	if c.store, err = NewStore(t.TempDir(), testLog(t), WithFreeSpace(16<<20), WithResolveOptions(WithRemoteOnly())); err != nil {
		t.Fatal(err)
	}
	d, err := c.store.RootDisk(context.Background(), c.aliceAt, nil, c.aliceOpts()...)
	if err != nil || d.Timings.CacheHit {
		t.Fatalf("alice's first deployment: %v (hit %v)", err, d != nil && d.Timings.CacheHit)
	}
	d.Release()
	c.alice.Reset()
	return c
}

func (c *cacheCase) aliceOpts() []Option {
	return c.egress.OptionsFor(nil, &Credentials{Host: c.alice.Host, Username: "alice", Password: "alice-secret"})
}

func (c *cacheCase) malloryOpts() []Option {
	return c.egress.OptionsFor(nil, &Credentials{Host: c.mallory.host(), Username: "mallory", Password: "m"})
}

// TestCachedDiskRefusedToAnotherRegistry: a reference to a registry that
// serves the same manifest but not the layers must not get the disk built
// from Alice's layers, by digest or by tag.
func TestCachedDiskRefusedToAnotherRegistry(t *testing.T) {
	c := newCacheCase(t)
	for _, ref := range []string{c.mallory.host() + "/x@" + c.digest, c.mallory.host() + "/x:v1"} {
		d, err := c.store.RootDisk(context.Background(), ref, nil, c.malloryOpts()...)
		if err == nil {
			t.Errorf("%s got the cached disk %s (hit %v)", ref, d.Path, d.Timings.CacheHit)
			continue
		}
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound (the registry lacks the layers)", ref, err)
		}
	}
	if auths, _ := c.alice.Seen(); len(auths) != 0 {
		t.Errorf("alice's registry was sent %d credentials for mallory's references", len(auths))
	}
}

// TestCachedDiskRefusedWithoutAccess: naming Alice's repository without
// Alice's credentials must not get the disk either: the registry decides.
func TestCachedDiskRefusedWithoutAccess(t *testing.T) {
	c := newCacheCase(t)
	d, err := c.store.RootDisk(context.Background(), c.aliceAt, nil, c.malloryOpts()...)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("mallory naming alice's image: disk %v, err %v; want ErrUnauthorized", d, err)
	}
	if n, _ := c.alice.Authorized(); n != 0 {
		t.Errorf("alice's credentials were sent %d times for mallory", n)
	}
}

// TestCachedDiskHitChecksManifestOnly: Alice's own reference still hits
// the cache, costing a manifest check with her credentials and no layer
// download; a second start within the proof's lifetime asks nothing.
func TestCachedDiskHitChecksManifestOnly(t *testing.T) {
	c := newCacheCase(t)
	c.store.forgetProofs()
	d, err := c.store.RootDisk(context.Background(), c.aliceAt, nil, c.aliceOpts()...)
	if err != nil || !d.Timings.CacheHit || d.Digest != c.digest {
		t.Fatalf("alice's second deployment: %v (disk %+v)", err, d)
	}
	d.Release()
	reqs := c.alice.Requests()
	manifest := "HEAD /v2/alice/app/manifests/" + c.digest
	if !slices.Contains(reqs, manifest) {
		t.Errorf("requests %v, want the manifest check %q", reqs, manifest)
	}
	for _, r := range reqs {
		if strings.Contains(r, "/blobs/") || strings.HasPrefix(r, "GET /v2/alice") {
			t.Errorf("cache hit fetched %s", r)
		}
	}
	if _, hits := c.alice.Elsewhere.Seen(); hits != 0 {
		t.Errorf("cache hit downloaded %d blobs", hits)
	}
	if n, other := c.alice.Authorized(); n == 0 || len(other) != 0 {
		t.Errorf("manifest check sent alice's credentials %d times and %v", n, other)
	}
	if auths, hits := c.mallory.seen(); hits != 0 || len(auths) != 0 {
		t.Errorf("mallory's registry was asked %d times", hits)
	}

	c.alice.Reset()
	d, err = c.store.RootDisk(context.Background(), c.aliceAt, nil, c.aliceOpts()...)
	if err != nil || !d.Timings.CacheHit {
		t.Fatalf("third deployment: %v", err)
	}
	d.Release()
	if reqs := c.alice.Requests(); len(reqs) != 0 {
		t.Errorf("a start within the proof's lifetime asked the registry %v", reqs)
	}
}

// TestCachedDiskOfflineOnlyForProvedRepository: when the registry is
// unreachable, a node still starts Alice's image from its cache because
// her credentials proved that very repository and digest before; Mallory's
// unreachable registry gets nothing.
func TestCachedDiskOfflineOnlyForProvedRepository(t *testing.T) {
	c := newCacheCase(t)
	now := time.Now()
	c.store.now = func() time.Time { return now }
	c.alice.Close()
	c.mallory.Close()
	now = now.Add(2 * proofTTL) // the proof is stale: the node must ask, and cannot
	d, err := c.store.RootDisk(context.Background(), c.aliceAt, nil, c.aliceOpts()...)
	if err != nil || !d.Timings.CacheHit {
		t.Fatalf("alice's image while her registry is down: %v", err)
	}
	d.Release()
	for _, opts := range [][]Option{c.malloryOpts(), c.egress.OptionsFor(nil, nil)} {
		if _, err := c.store.RootDisk(context.Background(), c.aliceAt, nil, opts...); err == nil {
			t.Error("other credentials got alice's image while her registry is down")
		}
	}
	if _, err := c.store.RootDisk(context.Background(), c.mallory.host()+"/x@"+c.digest, nil, c.malloryOpts()...); err == nil {
		t.Error("mallory's unreachable registry got alice's disk")
	}
	now = now.Add(offlineGrace)
	if _, err := c.store.RootDisk(context.Background(), c.aliceAt, nil, c.aliceOpts()...); err == nil {
		t.Error("the offline fallback outlived its grace")
	}
}

// TestCachedDiskSharedWithRepositoryThatServesLayers: another repository
// that really serves the image's layers gets the cached disk after
// downloading and verifying them once, without a second build.
func TestCachedDiskSharedWithRepositoryThatServesLayers(t *testing.T) {
	c := newCacheCase(t)
	ref := c.mallory.push(t, "full") // the same sample image, layers and all
	d, err := c.store.RootDisk(context.Background(), ref, nil, c.malloryOpts()...)
	if err != nil || !d.Timings.CacheHit || d.Digest != c.digest {
		t.Fatalf("repository with the layers: %v (disk %+v)", err, d)
	}
	d.Release()
	if _, hits := c.mallory.seen(); hits == 0 {
		t.Error("the layers were not fetched")
	}
}

// TestCachedDiskNotAfterRefusal: a registry's answer that the image is
// gone (or no longer for these credentials) ends the offline fallback at
// once: only no answer at all lets a node start from its cache.
func TestCachedDiskNotAfterRefusal(t *testing.T) {
	c := newCacheCase(t)
	now := time.Now()
	c.store.now = func() time.Time { return now }
	req, _ := http.NewRequest(http.MethodDelete, c.alice.URL+"/v2/alice/app/manifests/"+c.digest, nil)
	req.SetBasicAuth("alice", "alice-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete manifest: %v %v", resp, err)
	}
	resp.Body.Close()
	now = now.Add(2 * proofTTL)
	if d, err := c.store.RootDisk(context.Background(), c.aliceAt, nil, c.aliceOpts()...); !errors.Is(err, ErrNotFound) {
		t.Fatalf("image deleted from the registry: disk %v, err %v; want ErrNotFound", d, err)
	}
}

// putBlob uploads a blob to repo in one request.
func (rr *recordingRegistry) putBlob(t *testing.T, repo, digest string, blob []byte) {
	t.Helper()
	resp, err := http.Post(rr.URL+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %v %v", resp, err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = rr.URL + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(http.MethodPut, loc+sep+"digest="+digest, bytes.NewReader(blob))
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload blob: %v %v", resp, err)
	}
	resp.Body.Close()
}

// forgetProofs makes the next start of every image ask its registry.
func (s *Store) forgetProofs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proofs = nil
}
