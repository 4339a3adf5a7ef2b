package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func (g *Registry) blobPath(digest string) string {
	return filepath.Join(g.dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (g *Registry) repoPath(name string, parts ...string) string {
	return filepath.Join(append([]string{g.dir, "repos", filepath.FromSlash(name)}, parts...)...)
}

func (g *Registry) blobLink(name, digest string) string {
	return g.repoPath(name, "_blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (g *Registry) manifestLink(name, digest string) string {
	return g.repoPath(name, "_manifests", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (g *Registry) tagPath(name, tag string) string { return g.repoPath(name, "_tags", tag) }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// hasBlob reports whether digest is stored and belongs to repository name.
func (g *Registry) hasBlob(name, digest string) bool {
	return exists(g.blobLink(name, digest)) && exists(g.blobPath(digest))
}

// writeAtomic writes data to path through a temporary file and a rename, so
// readers see the old content or the new, never a part.
func (g *Registry) writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(g.dir, "tmp"), "w-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (g *Registry) link(name, digest string) error {
	return g.writeAtomic(g.blobLink(name, digest), nil)
}

// commitBlob verifies that the file at src hashes to digest and moves it
// into the blob store, linking it to repository name.
func (g *Registry) commitBlob(name, src, digest string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("%w: content has digest %s, not %s", errDigestMismatch, got, digest)
	}
	g.gcMu.RLock()
	defer g.gcMu.RUnlock()
	if touch(g.blobPath(digest)) {
		os.Remove(src) // identical content is already stored
	} else if err := os.Rename(src, g.blobPath(digest)); err != nil {
		return err
	}
	return g.link(name, digest)
}

// mount links a blob that another repository holds into repository name.
func (g *Registry) mount(name, digest string) error {
	g.gcMu.RLock()
	defer g.gcMu.RUnlock()
	if !touch(g.blobPath(digest)) {
		return fmt.Errorf("blob %s: %w", digest, fs.ErrNotExist)
	}
	return g.link(name, digest)
}

// touch marks a stored blob as just used, so that GC's grace period
// protects it until a manifest can reference it, and reports whether it
// exists. Callers hold gcMu shared.
func touch(path string) bool {
	now := time.Now()
	return os.Chtimes(path, now, now) == nil
}

var errDigestMismatch = errors.New("digest mismatch")

// putBlob stores data (a manifest) under its digest. The caller holds
// gcMu shared.
func (g *Registry) putBlob(name string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if !touch(g.blobPath(digest)) {
		if err := g.writeAtomic(g.blobPath(digest), data); err != nil {
			return "", err
		}
	}
	return digest, g.link(name, digest)
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
