package registry

import (
	"context"
	"fmt"
	"net/http"
)

func invalidDigest(digest string) *apiError {
	return errorf(http.StatusBadRequest, "DIGEST_INVALID", "digest %q is not a sha256 or sha512 digest in lowercase hex", digest)
}

func (g *Registry) blob(w http.ResponseWriter, r *http.Request, name, digest string) *apiError {
	if !validDigest(digest) {
		return invalidDigest(digest)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return g.getBlob(w, r, name, digest)
	case http.MethodDelete:
		return g.deleteBlob(w, r, name, digest)
	}
	return methodNotAllowed(r)
}

func blobUnknown(name, digest string) *apiError {
	return errorf(http.StatusNotFound, "BLOB_UNKNOWN", "blob %s not found in %s", digest, name)
}

func (g *Registry) getBlob(w http.ResponseWriter, r *http.Request, name, digest string) *apiError {
	ctx := r.Context()
	if !g.has(ctx, blobLinkKey(name, digest)) {
		return blobUnknown(name, digest)
	}
	info, err := g.store.Stat(ctx, blobKey(digest))
	if isNotExist(err) {
		return blobUnknown(name, digest)
	}
	if err != nil {
		return internal("stat blob", err)
	}
	f, err := g.store.Open(ctx, blobKey(digest))
	if isNotExist(err) {
		return blobUnknown(name, digest)
	}
	if err != nil {
		return internal("open blob", err)
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("ETag", `"`+digest+`"`)
	// ServeContent answers HEAD and Range requests too.
	http.ServeContent(w, r, "", info.ModTime, f)
	return nil
}

// deleteBlob removes a blob from a repository; GC deletes its data once
// no repository or manifest needs it.
func (g *Registry) deleteBlob(w http.ResponseWriter, r *http.Request, name, digest string) *apiError {
	ctx := r.Context()
	if !g.has(ctx, blobLinkKey(name, digest)) {
		return blobUnknown(name, digest)
	}
	if err := g.store.Delete(ctx, blobLinkKey(name, digest)); err != nil {
		return internal("delete blob", err)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mount links a blob that another repository holds into repository name.
func (g *Registry) mount(ctx context.Context, name, digest string) error {
	g.gcMu.RLock()
	defer g.gcMu.RUnlock()
	if !g.touch(ctx, blobKey(digest)) {
		return fmt.Errorf("mount blob %s: not stored", digest)
	}
	return g.link(ctx, name, digest)
}

func (g *Registry) link(ctx context.Context, name, digest string) error {
	return g.putSmall(ctx, blobLinkKey(name, digest), nil)
}

// putBlob stores data (a manifest) under its digest. The caller holds
// gcMu shared.
func (g *Registry) putBlob(ctx context.Context, name, digest string, data []byte) error {
	if !g.touch(ctx, blobKey(digest)) {
		if err := g.putSmall(ctx, blobKey(digest), data); err != nil {
			return err
		}
	}
	return g.link(ctx, name, digest)
}

func blobCreated(w http.ResponseWriter, name, digest string) *apiError {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}
