package registry

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"time"
)

// Storage is where a registry keeps everything: a flat namespace of keys
// holding bytes, like an object store. Operators that share one Storage
// (a PostgreSQL database or an S3 bucket) serve the same images, so any
// replica can take any request, including the next chunk of an upload
// another replica started.
//
// Keys are slash-separated paths made by the registry from validated
// names and digests:
//
//	blobs/<algo>/<hex>                           every blob and manifest, verified
//	uploads/<id>/start, uploads/<id>/p<offset>   an upload in progress and its chunks
//	repos/<name>/_blobs/<algo>/<hex>             blob belongs to the repository
//	repos/<name>/_manifests/<algo>/<hex>         manifest in the repository (holds its media type)
//	repos/<name>/_tags/<tag>                     tag -> digest
//	repos/<name>/_referrers/<algo>/<hex>/<algo>-<hex>  referrer descriptor of a subject
//
// Repository path components can never start with "_", so the link
// prefixes cannot collide with a repository name.
//
// A missing key is an error that wraps fs.ErrNotExist.
type Storage interface {
	// Put stores r's bytes under key, replacing any object there; readers
	// see the old object or the new one, never a part of it.
	Put(ctx context.Context, key string, r io.Reader) error
	// Open returns the object at key for reading and seeking.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, error)
	// Stat returns an object's size and when it was last written or
	// touched.
	Stat(ctx context.Context, key string) (Info, error)
	// Touch marks an object as used now, which GC's grace period counts
	// from.
	Touch(ctx context.Context, key string) error
	// Move renames an object, replacing any object at to.
	Move(ctx context.Context, from, to string) error
	// Delete removes an object; a missing one is no error.
	Delete(ctx context.Context, key string) error
	// DeletePrefix removes every object whose key starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// List returns the keys that start with prefix, at any depth, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Info describes a stored object.
type Info struct {
	Size    int64
	ModTime time.Time
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func splitDigest(digest string) (algo, hex string) {
	algo, hex, _ = strings.Cut(digest, ":")
	return algo, hex
}

func blobKey(digest string) string {
	algo, hex := splitDigest(digest)
	return "blobs/" + algo + "/" + hex
}

func repoKey(name string, parts ...string) string {
	return "repos/" + name + "/" + strings.Join(parts, "/")
}

func blobLinkKey(name, digest string) string {
	algo, hex := splitDigest(digest)
	return repoKey(name, "_blobs", algo, hex)
}

func manifestLinkKey(name, digest string) string {
	algo, hex := splitDigest(digest)
	return repoKey(name, "_manifests", algo, hex)
}

func tagKey(name, tag string) string { return repoKey(name, "_tags", tag) }

func referrersPrefix(name, subject string) string {
	algo, hex := splitDigest(subject)
	return repoKey(name, "_referrers", algo, hex) + "/"
}

func referrerKey(name, subject, digest string) string {
	algo, hex := splitDigest(digest)
	return referrersPrefix(name, subject) + algo + "-" + hex
}

// linkDigest turns the last two components of a link key
// (".../<algo>/<hex>") back into a digest.
func linkDigest(key string) string {
	parts := strings.Split(key, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2] + ":" + parts[len(parts)-1]
}

// has reports whether key is stored.
func (g *Registry) has(ctx context.Context, key string) bool {
	_, err := g.store.Stat(ctx, key)
	return err == nil
}

// touch marks a stored object as just used, so that GC's grace period
// protects it until a manifest can reference it, and reports whether it
// exists. Callers hold gcMu shared.
func (g *Registry) touch(ctx context.Context, key string) bool {
	return g.store.Touch(ctx, key) == nil
}

// maxSmallObject bounds what readSmall reads: links, tags and manifests.
const maxSmallObject = 64 << 20

func (g *Registry) readSmall(ctx context.Context, key string) ([]byte, error) {
	f, err := g.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxSmallObject))
}

func (g *Registry) putSmall(ctx context.Context, key string, data []byte) error {
	return g.store.Put(ctx, key, strings.NewReader(string(data)))
}

// Shared reports whether s is a storage that several operator replicas
// use at once by design (PostgreSQL, a bucket), so that one replica at a
// time should collect it. A directory (NewFS) is taken as one replica's
// own: replicas that each have one must each collect theirs.
func Shared(s Storage) bool {
	_, local := s.(*fsStorage)
	return !local
}
