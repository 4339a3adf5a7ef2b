// Package registrytest runs a private OCI registry on loopback for tests:
// go-containerregistry's registry behind HTTP Basic auth, which records
// every Authorization header it is sent. It stands in for a tenant's
// private registry (Docker Hub, GHCR, a self-hosted one), which tests
// cannot reach.
package registrytest

import (
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// Registry is a private registry that wants User and Password.
type Registry struct {
	*httptest.Server
	// Host is the registry as image references name it (127.0.0.1:port).
	Host           string
	User, Password string
	// Elsewhere is a second host (another port) serving the same blobs
	// without auth: blob downloads are redirected there, as registries
	// redirect to object storage. Credentials must never reach it.
	Elsewhere *Recorder
	rec       Recorder
}

// Recorder records the Authorization headers a server is sent.
type Recorder struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
	hits  int
	reqs  []string
}

func (r *Recorder) record(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits++
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
	if a := req.Header.Get("Authorization"); a != "" {
		r.auths = append(r.auths, a)
	}
}

// Seen returns the Authorization headers received and the request count.
func (r *Recorder) Seen() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auths...), r.hits
}

// Requests returns the requests received, as "METHOD /path".
func (r *Recorder) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// New starts a registry that wants user and password, until the test ends.
func New(t testing.TB, user, password string) *Registry {
	t.Helper()
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	r := &Registry{User: user, Password: password, Elsewhere: &Recorder{}}
	r.Elsewhere.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Elsewhere.record(req)
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Elsewhere.Close)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.rec.record(req)
		if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			http.Redirect(w, req, r.Elsewhere.URL+req.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Server.Close)
	r.rec.Server = r.Server
	r.Host = strings.TrimPrefix(r.URL, "http://")
	return r
}

// Seen returns the Authorization headers the registry received and its
// request count.
func (r *Registry) Seen() ([]string, int) { return r.rec.Seen() }

// Authorized reports how many requests carried the right credentials, and
// the Authorization headers that were anything else.
func (r *Registry) Authorized() (int, []string) {
	auths, _ := r.Seen()
	want := "Basic " + basic(r.User, r.Password)
	n, other := 0, []string{}
	for _, a := range auths {
		if a == want {
			n++
		} else {
			other = append(other, a)
		}
	}
	return n, other
}

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// Requests returns the requests the registry received, as "METHOD /path".
func (r *Registry) Requests() []string { return r.rec.Requests() }

// Reset forgets what the registry and its redirect target were sent.
func (r *Registry) Reset() {
	for _, rec := range []*Recorder{&r.rec, r.Elsewhere} {
		rec.mu.Lock()
		rec.auths, rec.hits, rec.reqs = nil, 0, nil
		rec.mu.Unlock()
	}
}
