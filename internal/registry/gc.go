package registry

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// GCStats says what one garbage collection removed.
type GCStats struct {
	Blobs   int   // blobs no manifest referenced
	Bytes   int64 // their size
	Uploads int   // abandoned uploads and temporary files
}

// GC deletes the blobs that no manifest of any repository references
// (manifests count as referenced while a repository links them), and the
// uploads and temporary files untouched for uploadAge.
//
// A blob written, mounted or referenced within grace is kept even if no
// manifest names it yet: a client pushes its layers first and the manifest
// last, and every write that makes a blob wanted (upload, mount, a manifest
// that references it) refreshes its time under gcMu, which GC holds while
// it decides and deletes. So a manifest is never stored referencing a blob
// GC removes: either GC deleted the blob first and the manifest is refused
// (MANIFEST_BLOB_UNKNOWN), or the manifest touched it and GC keeps it.
// Replicas sharing a Storage do not share gcMu: there the grace period,
// far longer than any push, keeps the blobs of a push in flight.
func (g *Registry) GC(ctx context.Context, grace, uploadAge time.Duration) (GCStats, error) {
	var st GCStats
	st.Uploads = g.removeAbandoned(ctx, uploadAge)
	marked, err := g.mark(ctx)
	if err != nil {
		return st, err
	}
	blobs, err := g.store.List(ctx, "blobs/")
	if err != nil {
		return st, err
	}
	for _, key := range blobs {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		digest := linkDigest(key)
		if marked[digest] {
			continue
		}
		if n, ok := g.sweep(ctx, digest, grace); ok {
			st.Blobs++
			st.Bytes += n
		}
	}
	if st.Blobs > 0 {
		g.unlinkMissing(ctx)
	}
	return st, nil
}

// sweep deletes a blob unless it was used within grace.
func (g *Registry) sweep(ctx context.Context, digest string, grace time.Duration) (int64, bool) {
	g.gcMu.Lock()
	defer g.gcMu.Unlock()
	info, err := g.store.Stat(ctx, blobKey(digest))
	if err != nil || time.Since(info.ModTime) < grace {
		return 0, false
	}
	if err := g.store.Delete(ctx, blobKey(digest)); err != nil {
		g.log.Warn("registry gc: remove blob", "digest", digest, "err", err)
		return 0, false
	}
	return info.Size, true
}

// mark returns every digest that a manifest linked into a repository is or
// references.
func (g *Registry) mark(ctx context.Context) (map[string]bool, error) {
	marked := map[string]bool{}
	keys, err := g.store.List(ctx, "repos/")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !strings.Contains(k, "/_manifests/") {
			continue
		}
		digest := linkDigest(k)
		if !validDigest(digest) {
			continue
		}
		marked[digest] = true
		body, err := g.readSmall(ctx, blobKey(digest))
		if err != nil {
			continue // a manifest whose blob is gone references nothing it can serve
		}
		var doc manifestDoc
		if json.Unmarshal(body, &doc) != nil {
			continue
		}
		for _, r := range doc.references() {
			marked[r] = true
		}
	}
	return marked, nil
}

// references lists the digests a manifest names.
func (m *manifestDoc) references() []string {
	var out []string
	if m.Config != nil {
		out = append(out, m.Config.Digest)
	}
	for _, d := range append(m.Layers, m.Manifests...) {
		out = append(out, d.Digest)
	}
	return out
}

// unlinkMissing removes the repository links of blobs that are gone, so
// that a repository no longer claims them.
func (g *Registry) unlinkMissing(ctx context.Context) {
	g.gcMu.Lock()
	defer g.gcMu.Unlock()
	keys, err := g.store.List(ctx, "repos/")
	if err != nil {
		g.log.Warn("registry gc: list links", "err", err)
		return
	}
	for _, k := range keys {
		if strings.Contains(k, "/_blobs/") && !g.has(ctx, blobKey(linkDigest(k))) {
			g.store.Delete(ctx, k)
		}
	}
}

// cleaner is a Storage with leftovers of its own, such as writes a crash
// ended, that GC should remove once they are older than age.
type cleaner interface {
	CleanUp(ctx context.Context, age time.Duration) (int, error)
}

// removeAbandoned deletes uploads and temporary files untouched for age:
// clients that gave up mid-push leave them behind. Uploads a request of
// this process is working on are left alone.
func (g *Registry) removeAbandoned(ctx context.Context, age time.Duration) int {
	removed := 0
	keys, err := g.store.List(ctx, "uploads/")
	if err != nil {
		g.log.Warn("registry gc: list uploads", "err", err)
	}
	byID := map[string][]string{}
	for _, k := range keys {
		id, _, _ := strings.Cut(strings.TrimPrefix(k, "uploads/"), "/")
		byID[id] = append(byID[id], k)
	}
	for id, parts := range byID {
		newest, err := g.uploadAge(ctx, parts)
		if err != nil || time.Since(newest) < age {
			continue
		}
		g.uploadMu.Lock()
		if g.uploading[id] == nil && g.store.DeletePrefix(ctx, uploadPrefix(id)) == nil {
			removed++
		}
		g.uploadMu.Unlock()
	}
	if c, ok := g.store.(cleaner); ok {
		n, err := c.CleanUp(ctx, age)
		if err != nil {
			g.log.Warn("registry gc: clean up storage", "err", err)
		}
		removed += n
	}
	// Temporary files of a filesystem Storage that a crash left behind.
	tmp, _ := g.store.List(ctx, "tmp/")
	for _, k := range tmp {
		if info, err := g.store.Stat(ctx, k); err == nil && time.Since(info.ModTime) >= age && g.store.Delete(ctx, k) == nil {
			removed++
		}
	}
	return removed
}
