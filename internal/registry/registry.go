// Package registry is the operator's built-in OCI distribution registry: the
// /v2/ API that the CLI pushes images to and node agents pull them from.
// It follows the OCI distribution spec 1.1 (pull, push, content discovery
// with the referrers API, content management; sha256 and sha512 digests)
// and passes its conformance suite (conformance_test.go).
//
// Blobs, manifests, tags and uploads in progress live in a Storage (see
// storage.go for its layout): a directory (NewFS), PostgreSQL (package
// internal/registry/pgstorage) or an S3-compatible bucket (package
// internal/registry/s3storage). Objects are content-addressed and written
// whole, so they survive restarts, and operators that share a Storage
// serve the same images.
//
// Limits: one blob may be at most 10 GiB and one manifest 4 MiB (Option);
// larger uploads get 413 SIZE_INVALID and their data is deleted. GC removes
// blobs no manifest references once they are older than a grace period,
// and abandoned uploads. go-containerregistry's
// pkg/registry keeps manifests in memory only, hence this compact handler.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

const (
	namePattern   = `[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*`
	tagPattern    = `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
	uploadPattern = `[a-f0-9]{32}`
	maxNameLength = 255
)

var (
	reManifest  = regexp.MustCompile(`^/v2/(` + namePattern + `)/manifests/(` + tagPattern + `|` + anyDigestPattern + `)$`)
	reBlob      = regexp.MustCompile(`^/v2/(` + namePattern + `)/blobs/(` + anyDigestPattern + `)$`)
	reUploads   = regexp.MustCompile(`^/v2/(` + namePattern + `)/blobs/uploads/?$`)
	reUpload    = regexp.MustCompile(`^/v2/(` + namePattern + `)/blobs/uploads/(` + uploadPattern + `)$`)
	reTags      = regexp.MustCompile(`^/v2/(` + namePattern + `)/tags/list$`)
	reReferrers = regexp.MustCompile(`^/v2/(` + namePattern + `)/referrers/(` + anyDigestPattern + `)$`)
)

// ErrForbidden, wrapped in an error from the authorize function, answers 403
// (valid credentials, action not allowed, such as a node pushing) instead of
// 401, so that clients do not retry with the same credentials.
var ErrForbidden = errors.New("forbidden")

// Default limits (see Option).
const (
	DefaultMaxBlobSize     = 10 << 30
	DefaultMaxManifestSize = 4 << 20
)

// Registry serves the distribution API from a Storage.
type Registry struct {
	store       Storage
	authorize   func(*http.Request) error
	log         *slog.Logger
	maxBlob     int64
	maxManifest int64
	// uploading holds a lock for each upload session that a request is
	// working on right now, and nothing else: entries are made only for
	// uploads that exist and go when their last request ends.
	uploadMu  sync.Mutex
	uploading map[string]*uploadLock
	// gcMu keeps GC's deletions apart from writes that make a blob
	// referenced (linking, mounting, storing a manifest): writers hold it
	// shared, GC exclusively while it deletes. It is per process: between
	// replicas that share a Storage, the grace period (a day by default)
	// stands in for it.
	gcMu sync.RWMutex
}

// Option changes a registry's settings.
type Option func(*Registry)

// WithMaxBlobSize bounds the size of one uploaded blob (default 10 GiB);
// n <= 0 keeps the default.
func WithMaxBlobSize(n int64) Option {
	return func(g *Registry) {
		if n > 0 {
			g.maxBlob = n
		}
	}
}

// WithMaxManifestSize bounds the size of one manifest (default 4 MiB);
// n <= 0 keeps the default.
func WithMaxManifestSize(n int64) Option {
	return func(g *Registry) {
		if n > 0 {
			g.maxManifest = n
		}
	}
}

// New returns the registry stored in directory dir (see NewWithStorage).
func New(dir string, authorize func(r *http.Request) error, log *slog.Logger, opts ...Option) (*Registry, error) {
	st, err := NewFS(dir)
	if err != nil {
		return nil, err
	}
	return NewWithStorage(st, authorize, log, opts...), nil
}

// NewWithStorage returns the registry kept in st. authorize decides each
// request (nil allows everything); a request it refuses gets 401 with a
// Basic challenge, which makes docker-style clients (go-containerregistry's
// authn.Basic, or a token sent as the password) retry with credentials.
// Credentials extracts what the client sent.
func NewWithStorage(st Storage, authorize func(r *http.Request) error, log *slog.Logger, opts ...Option) *Registry {
	g := &Registry{
		store: st, authorize: authorize, log: log, uploading: map[string]*uploadLock{},
		maxBlob: DefaultMaxBlobSize, maxManifest: DefaultMaxManifestSize,
	}
	for _, o := range opts {
		o(g)
	}
	g.removeAbandoned(context.Background(), 24*time.Hour)
	return g
}

// Credentials returns the token a client sent: the password of Basic auth
// or a Bearer token.
func Credentials(r *http.Request) (string, bool) {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass, true
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
		return tok, true
	}
	return "", false
}

func (g *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if g.authorize != nil {
		if err := g.authorize(r); errors.Is(err, ErrForbidden) {
			writeError(w, http.StatusForbidden, "DENIED", err.Error())
			return
		} else if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="zeitwork registry"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
			return
		}
	}
	if err := g.route(w, r); err != nil {
		if err.status >= 500 {
			g.log.Warn("registry request failed", "method", r.Method, "path", r.URL.Path, "err", err.message)
		}
		writeError(w, err.status, err.code, err.message)
	}
}

func (g *Registry) route(w http.ResponseWriter, r *http.Request) *apiError {
	p := r.URL.Path
	if p == "/v2/" || p == "/v2" {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return nil
	}
	if m := matchName(reManifest, p); m != nil {
		return g.manifest(w, r, m[1], m[2])
	}
	if m := matchName(reBlob, p); m != nil {
		return g.blob(w, r, m[1], m[2])
	}
	if m := matchName(reUploads, p); m != nil {
		return g.startUpload(w, r, m[1])
	}
	if m := matchName(reUpload, p); m != nil {
		return g.upload(w, r, m[1], m[2])
	}
	if m := matchName(reTags, p); m != nil {
		return g.tags(w, r, m[1])
	}
	if m := matchName(reReferrers, p); m != nil {
		return g.referrers(w, r, m[1], m[2])
	}
	if strings.HasPrefix(p, "/v2/") {
		return &apiError{http.StatusNotFound, "NAME_INVALID", "invalid repository name or path " + p}
	}
	return &apiError{http.StatusNotFound, "UNSUPPORTED", "not a registry path"}
}

func matchName(re *regexp.Regexp, p string) []string {
	m := re.FindStringSubmatch(p)
	if m == nil || len(m[1]) > maxNameLength {
		return nil
	}
	return m
}

// apiError is an error in the distribution API's JSON shape.
type apiError struct {
	status  int
	code    string
	message string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func internal(op string, err error) *apiError {
	return errorf(http.StatusInternalServerError, "UNKNOWN", "%s: %v", op, err)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": message}},
	})
}

func methodNotAllowed(r *http.Request) *apiError {
	return errorf(http.StatusMethodNotAllowed, "UNSUPPORTED", "method %s not allowed here", r.Method)
}

var _ http.Handler = (*Registry)(nil)
