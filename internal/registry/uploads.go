package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// An upload is a prefix in the Storage: "uploads/<id>/start", made when
// it begins, and one object per chunk, "uploads/<id>/p<offset>", so that
// any replica can take the next chunk and object stores, which cannot
// append, can hold it.

func uploadPrefix(id string) string { return "uploads/" + id + "/" }

func partKey(id string, offset int64) string {
	return fmt.Sprintf("%sp%020d", uploadPrefix(id), offset)
}

// startUpload handles POST .../blobs/uploads/: a monolithic upload when
// ?digest= is given, a cross-repository mount when ?mount= names a blob the
// source repository (?from=) holds, else the start of a chunked upload.
// A mount without ?from= is not done: a tenant must not link a blob of
// another tenant's repository by guessing its digest.
func (g *Registry) startUpload(w http.ResponseWriter, r *http.Request, name string) *apiError {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r)
	}
	ctx := r.Context()
	q := r.URL.Query()
	if mount, from := q.Get("mount"), q.Get("from"); validDigest(mount) && from != "" {
		if reName(from) && g.has(ctx, blobLinkKey(from, mount)) && g.mount(ctx, name, mount) == nil {
			return blobCreated(w, name, mount)
		}
		// Not mountable: fall through to a normal upload, as the spec allows.
	}
	id, err := g.newUpload(ctx)
	if err != nil {
		return internal("start upload", err)
	}
	if digest := q.Get("digest"); digest != "" {
		return g.finishUpload(w, r, name, id, 0, digest)
	}
	return uploadStatus(w, name, id, 0, http.StatusAccepted)
}

func reName(name string) bool {
	return len(name) <= maxNameLength && reTags.MatchString("/v2/"+name+"/tags/list")
}

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

func (g *Registry) newUpload(ctx context.Context) (string, error) {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	return id, g.putSmall(ctx, uploadPrefix(id)+"start", nil)
}

// uploadParts returns the chunk keys of an upload in order and its size;
// fs.ErrNotExist if there is no such upload.
func (g *Registry) uploadParts(ctx context.Context, id string) ([]string, int64, error) {
	keys, err := g.store.List(ctx, uploadPrefix(id))
	if err != nil {
		return nil, 0, err
	}
	var parts []string
	started := false
	for _, k := range keys {
		base := strings.TrimPrefix(k, uploadPrefix(id))
		started = started || base == "start"
		if strings.HasPrefix(base, "p") {
			parts = append(parts, k)
		}
	}
	if !started {
		return nil, 0, fmt.Errorf("upload %s: %w", id, errNoUpload)
	}
	if len(parts) == 0 {
		return nil, 0, nil
	}
	last := parts[len(parts)-1]
	offset, _ := strconv.ParseInt(strings.TrimPrefix(last, uploadPrefix(id)+"p"), 10, 64)
	info, err := g.store.Stat(ctx, last)
	if err != nil {
		return nil, 0, err
	}
	return parts, offset + info.Size, nil
}

var errNoUpload = errors.New("no such upload")

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
	ctx := r.Context()
	defer g.lockUpload(id)()
	_, size, err := g.uploadParts(ctx, id)
	if errors.Is(err, errNoUpload) {
		return errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload %s not found", id)
	}
	if err != nil {
		return internal("read upload", err)
	}
	switch r.Method {
	case http.MethodGet:
		return uploadStatus(w, name, id, size, http.StatusNoContent)
	case http.MethodPatch:
		if aerr := checkContentRange(w, r, name, id, size); aerr != nil {
			return aerr
		}
		size, aerr := g.appendUpload(ctx, id, size, r)
		if aerr != nil {
			return aerr
		}
		return uploadStatus(w, name, id, size, http.StatusAccepted)
	case http.MethodPut:
		if aerr := checkContentRange(w, r, name, id, size); aerr != nil {
			return aerr
		}
		return g.finishUpload(w, r, name, id, size, r.URL.Query().Get("digest"))
	case http.MethodDelete:
		if err := g.store.DeletePrefix(ctx, uploadPrefix(id)); err != nil {
			return internal("cancel upload", err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(r)
}

// checkContentRange refuses a chunk that does not start where the upload
// ends with 416 and the upload's state, so that the client can resume
// (an optional header; clients that send it must be in order).
func checkContentRange(w http.ResponseWriter, r *http.Request, name, id string, size int64) *apiError {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return nil
	}
	start, _, ok := strings.Cut(strings.TrimPrefix(cr, "bytes="), "-")
	if n, err := strconv.ParseInt(start, 10, 64); !ok || err != nil || n != size {
		setUploadHeaders(w, name, id, size)
		return errorf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "chunk %s does not start at %d, where the upload ends", cr, size)
	}
	return nil
}

// countingReader counts what it reads.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// appendUpload stores the request's body as the upload's next chunk. A
// body that would take the upload over the blob size limit ends the
// upload: its data is deleted, so an oversized push costs no storage.
func (g *Registry) appendUpload(ctx context.Context, id string, size int64, r *http.Request) (int64, *apiError) {
	room := g.maxBlob - size
	tooLarge := func() (int64, *apiError) {
		g.store.DeletePrefix(ctx, uploadPrefix(id))
		return 0, errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "blob larger than %d bytes, the registry's limit", g.maxBlob)
	}
	if r.ContentLength > room {
		return tooLarge()
	}
	if r.ContentLength == 0 {
		return size, nil
	}
	key := partKey(id, size)
	body := &countingReader{r: io.LimitReader(r.Body, room+1)}
	err := g.store.Put(ctx, key, body)
	if body.n > room {
		return tooLarge()
	}
	if err != nil {
		g.store.Delete(ctx, key)
		return 0, internal("write upload", err)
	}
	if body.n == 0 {
		g.store.Delete(ctx, key)
	}
	return size + body.n, nil
}

func setUploadHeaders(w http.ResponseWriter, name, id string, size int64) {
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Location", uploadLocation(name, id))
	w.Header().Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
}

func uploadStatus(w http.ResponseWriter, name, id string, size int64, status int) *apiError {
	setUploadHeaders(w, name, id, size)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

// finishUpload appends a final chunk, if any, verifies the digest and
// stores the blob.
func (g *Registry) finishUpload(w http.ResponseWriter, r *http.Request, name, id string, size int64, digest string) *apiError {
	ctx := r.Context()
	if !validDigest(digest) {
		g.store.DeletePrefix(ctx, uploadPrefix(id))
		return invalidDigest(digest)
	}
	if _, aerr := g.appendUpload(ctx, id, size, r); aerr != nil {
		return aerr
	}
	err := g.commitUpload(ctx, name, id, digest)
	if errors.Is(err, errDigestMismatch) {
		g.store.DeletePrefix(ctx, uploadPrefix(id))
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
	}
	if err != nil {
		return internal("store blob", err)
	}
	return blobCreated(w, name, digest)
}

var errDigestMismatch = errors.New("digest mismatch")

// commitUpload verifies that the upload's content hashes to digest and
// moves it into the blob store, linking it to repository name.
func (g *Registry) commitUpload(ctx context.Context, name, id, digest string) error {
	src, err := g.assemble(ctx, id, digest)
	if err != nil {
		return err
	}
	g.gcMu.RLock()
	defer g.gcMu.RUnlock()
	if !g.touch(ctx, blobKey(digest)) { // identical content may be stored already
		if err := g.store.Move(ctx, src, blobKey(digest)); err != nil {
			return err
		}
	}
	if err := g.link(ctx, name, digest); err != nil {
		return err
	}
	return g.store.DeletePrefix(ctx, uploadPrefix(id))
}

// assemble returns the key of one object holding the upload's content,
// verified against digest: its only chunk, or the chunks joined.
func (g *Registry) assemble(ctx context.Context, id, digest string) (string, error) {
	parts, _, err := g.uploadParts(ctx, id)
	if err != nil {
		return "", err
	}
	h := newHash(digest)
	src := uploadPrefix(id) + "data"
	if len(parts) == 1 {
		src = parts[0]
		f, err := g.store.Open(ctx, src)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	} else {
		chunks := &chunksReader{ctx: ctx, g: g, keys: parts}
		err := g.store.Put(ctx, src, io.TeeReader(chunks, h))
		chunks.close()
		if err != nil {
			return "", err
		}
	}
	algo, _ := splitDigest(digest)
	if got := hashDigest(algo, h); got != digest {
		return "", fmt.Errorf("%w: content has digest %s, not %s", errDigestMismatch, got, digest)
	}
	return src, nil
}

// chunksReader reads stored objects one after the other, opening each
// only when the one before is done.
type chunksReader struct {
	ctx  context.Context
	g    *Registry
	keys []string
	cur  io.ReadCloser
}

func (c *chunksReader) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.keys) == 0 {
				return 0, io.EOF
			}
			f, err := c.g.store.Open(c.ctx, c.keys[0])
			if err != nil {
				return 0, err
			}
			c.cur, c.keys = f, c.keys[1:]
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *chunksReader) close() {
	if c.cur != nil {
		c.cur.Close()
	}
}

// uploadAge is when an upload was last written to.
func (g *Registry) uploadAge(ctx context.Context, keys []string) (time.Time, error) {
	var newest time.Time
	for _, k := range keys {
		info, err := g.store.Stat(ctx, k)
		if err != nil {
			return time.Time{}, err
		}
		if info.ModTime.After(newest) {
			newest = info.ModTime
		}
	}
	return newest, nil
}
