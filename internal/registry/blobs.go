package registry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

func (g *Registry) blob(w http.ResponseWriter, r *http.Request, name, digest string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	if !exists(g.blobLink(name, digest)) {
		return errorf(http.StatusNotFound, "BLOB_UNKNOWN", "blob %s not found in %s", digest, name)
	}
	f, err := os.Open(g.blobPath(digest))
	if isNotExist(err) {
		return errorf(http.StatusNotFound, "BLOB_UNKNOWN", "blob %s not found in %s", digest, name)
	}
	if err != nil {
		return internal("open blob", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return internal("stat blob", err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("ETag", `"`+digest+`"`)
	// ServeContent answers HEAD and Range requests too.
	http.ServeContent(w, r, "", info.ModTime(), f)
	return nil
}

// startUpload handles POST .../blobs/uploads/: a monolithic upload when
// ?digest= is given, a cross-repository mount when ?mount= names a blob the
// source repository (?from=) holds, else the start of a chunked upload.
func (g *Registry) startUpload(w http.ResponseWriter, r *http.Request, name string) *apiError {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r)
	}
	q := r.URL.Query()
	if mount, from := q.Get("mount"), q.Get("from"); mount != "" && reDigest.MatchString(mount) && from != "" {
		if reName(from) && g.hasBlob(from, mount) && g.mount(name, mount) == nil {
			return blobCreated(w, name, mount)
		}
		// Not mountable: fall through to a normal upload, as the spec allows.
	}
	id, err := g.newUpload()
	if err != nil {
		return internal("start upload", err)
	}
	if digest := q.Get("digest"); digest != "" {
		return g.finishUpload(w, r, name, id, digest)
	}
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Location", uploadLocation(name, id))
	w.Header().Set("Range", "0-0")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func reName(name string) bool {
	return len(name) <= maxNameLength && reTags.MatchString("/v2/"+name+"/tags/list")
}

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

func (g *Registry) uploadPath(id string) string { return filepath.Join(g.dir, "uploads", id) }

func (g *Registry) newUpload() (string, error) {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	f, err := os.OpenFile(g.uploadPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	return id, f.Close()
}

// uploadLock serialises the requests on one upload session; refs counts
// the requests that hold or wait for it.
type uploadLock struct {
	mu   sync.Mutex
	refs int
}

// lockUpload serialises requests on one upload session. The entry lives
// only while requests use it, so the map is bounded by the requests in
// flight, not by the upload IDs clients make up.
func (g *Registry) lockUpload(id string) (unlock func()) {
	g.uploadMu.Lock()
	l := g.uploading[id]
	if l == nil {
		l = &uploadLock{}
		g.uploading[id] = l
	}
	l.refs++
	g.uploadMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		g.uploadMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(g.uploading, id)
		}
		g.uploadMu.Unlock()
	}
}

func (g *Registry) upload(w http.ResponseWriter, r *http.Request, name, id string) *apiError {
	if !exists(g.uploadPath(id)) { // no lock for an upload that was never started
		return errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload %s not found", id)
	}
	defer g.lockUpload(id)()
	size, err := fileSize(g.uploadPath(id))
	if isNotExist(err) {
		return errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload %s not found", id)
	}
	if err != nil {
		return internal("stat upload", err)
	}
	switch r.Method {
	case http.MethodGet:
		return uploadStatus(w, name, id, size, http.StatusNoContent)
	case http.MethodPatch:
		if err := checkContentRange(r.Header.Get("Content-Range"), size); err != nil {
			return err
		}
		size, aerr := g.appendUpload(id, r)
		if aerr != nil {
			return aerr
		}
		return uploadStatus(w, name, id, size, http.StatusAccepted)
	case http.MethodPut:
		return g.finishUpload(w, r, name, id, r.URL.Query().Get("digest"))
	case http.MethodDelete:
		os.Remove(g.uploadPath(id))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(r)
}

func fileSize(path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// checkContentRange refuses a chunk that does not start where the upload
// ends (an optional header; clients that send it must be in order).
func checkContentRange(cr string, size int64) *apiError {
	if cr == "" {
		return nil
	}
	start, _, ok := strings.Cut(strings.TrimPrefix(cr, "bytes="), "-")
	if n, err := strconv.ParseInt(start, 10, 64); !ok || err != nil || n != size {
		return errorf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "chunk %s does not start at %d", cr, size)
	}
	return nil
}

// appendUpload appends the request's body to upload id. A body that would
// take the upload over the blob size limit ends the upload: its data is
// deleted, so an oversized push costs no disk.
func (g *Registry) appendUpload(id string, r *http.Request) (int64, *apiError) {
	path := g.uploadPath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if isNotExist(err) {
		return 0, errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload %s not found", id)
	}
	if err != nil {
		return 0, internal("write upload", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, internal("write upload", err)
	}
	room := g.maxBlob - info.Size()
	tooLarge := r.ContentLength > room
	if !tooLarge {
		var n int64
		n, err = io.Copy(f, io.LimitReader(r.Body, room+1))
		tooLarge = n > room
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if tooLarge {
		os.Remove(path)
		return 0, errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "blob larger than %d bytes, the registry's limit", g.maxBlob)
	}
	if err != nil {
		return 0, internal("write upload", err)
	}
	size, err := fileSize(path)
	if err != nil {
		return 0, internal("write upload", err)
	}
	return size, nil
}

func uploadStatus(w http.ResponseWriter, name, id string, size int64, status int) *apiError {
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Location", uploadLocation(name, id))
	w.Header().Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

// finishUpload appends a final chunk, if any, verifies the digest and
// stores the blob.
func (g *Registry) finishUpload(w http.ResponseWriter, r *http.Request, name, id, digest string) *apiError {
	if !reDigest.MatchString(digest) {
		os.Remove(g.uploadPath(id))
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "digest %q is not a sha256 digest", digest)
	}
	if _, aerr := g.appendUpload(id, r); aerr != nil {
		return aerr
	}
	err := g.commitBlob(name, g.uploadPath(id), digest)
	if errors.Is(err, errDigestMismatch) {
		os.Remove(g.uploadPath(id))
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
	}
	if err != nil {
		return internal("store blob", err)
	}
	return blobCreated(w, name, digest)
}

func blobCreated(w http.ResponseWriter, name, digest string) *apiError {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}
