package registry

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
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
func (g *Registry) GC(ctx context.Context, grace, uploadAge time.Duration) (GCStats, error) {
	var st GCStats
	st.Uploads = g.removeAbandoned(uploadAge)
	marked, err := g.mark(ctx)
	if err != nil {
		return st, err
	}
	blobs, err := os.ReadDir(filepath.Join(g.dir, "blobs", "sha256"))
	if err != nil {
		return st, err
	}
	for _, e := range blobs {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		if marked["sha256:"+e.Name()] {
			continue
		}
		if n, ok := g.sweep(e.Name(), grace); ok {
			st.Blobs++
			st.Bytes += n
		}
	}
	if st.Blobs > 0 {
		g.unlinkMissing()
	}
	return st, nil
}

// sweep deletes blob hex unless it was used within grace.
func (g *Registry) sweep(hex string, grace time.Duration) (int64, bool) {
	g.gcMu.Lock()
	defer g.gcMu.Unlock()
	path := g.blobPath("sha256:" + hex)
	info, err := os.Stat(path)
	if err != nil || time.Since(info.ModTime()) < grace {
		return 0, false
	}
	if err := os.Remove(path); err != nil {
		g.log.Warn("registry gc: remove blob", "digest", "sha256:"+hex, "err", err)
		return 0, false
	}
	return info.Size(), true
}

// mark returns every digest that a manifest linked into a repository is or
// references.
func (g *Registry) mark(ctx context.Context) (map[string]bool, error) {
	marked := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(g.dir, "repos"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || filepath.Base(filepath.Dir(filepath.Dir(path))) != "_manifests" {
			return nil
		}
		digest := "sha256:" + d.Name()
		if !reDigest.MatchString(digest) {
			return nil
		}
		marked[digest] = true
		body, err := os.ReadFile(g.blobPath(digest))
		if err != nil {
			return nil // a manifest whose blob is gone references nothing it can serve
		}
		var doc manifestDoc
		if json.Unmarshal(body, &doc) != nil {
			return nil
		}
		for _, r := range doc.references() {
			marked[r] = true
		}
		return nil
	})
	return marked, err
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
func (g *Registry) unlinkMissing() {
	g.gcMu.Lock()
	defer g.gcMu.Unlock()
	filepath.WalkDir(filepath.Join(g.dir, "repos"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(filepath.Dir(filepath.Dir(path))) != "_blobs" {
			return nil
		}
		if !exists(g.blobPath("sha256:" + d.Name())) {
			os.Remove(path)
		}
		return nil
	})
}

// removeAbandoned deletes uploads and temporary files untouched for age:
// clients that gave up mid-push leave them behind. Uploads a request is
// working on are left alone.
func (g *Registry) removeAbandoned(age time.Duration) int {
	removed := 0
	for _, sub := range []string{"uploads", "tmp"} {
		entries, _ := os.ReadDir(filepath.Join(g.dir, sub))
		for _, e := range entries {
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < age {
				continue
			}
			g.uploadMu.Lock()
			busy := sub == "uploads" && g.uploading[e.Name()] != nil
			if !busy && os.Remove(filepath.Join(g.dir, sub, e.Name())) == nil {
				removed++
			}
			g.uploadMu.Unlock()
		}
	}
	return removed
}
