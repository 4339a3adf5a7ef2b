package registry

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// FuzzRequests sends arbitrary methods, paths, queries and bodies to the
// registry and checks that it never answers 5xx for bad input and never
// writes outside its directory: repository names and references become
// file paths, so they are untrusted input.
func FuzzRequests(f *testing.F) {
	seeds := []struct{ method, path, query, body string }{
		{"GET", "/v2/", "", ""},
		{"POST", "/v2/app/blobs/uploads/", "", ""},
		{"POST", "/v2/app/blobs/uploads/", "digest=sha256:" + strings.Repeat("a", 64), "data"},
		{"PUT", "/v2/app/manifests/v1", "", `{"schemaVersion":2,"config":{"digest":"sha256:00"}}`},
		{"PUT", "/v2/../../etc/manifests/v1", "", "{}"},
		{"PUT", "/v2/app/manifests/..%2f..%2fx", "", "{}"},
		{"GET", "/v2/app/blobs/sha256:../../../../etc/passwd", "", ""},
		{"POST", "/v2/app/blobs/uploads/", "mount=sha256:" + strings.Repeat("b", 64) + "&from=../../x", ""},
		{"PATCH", "/v2/app/blobs/uploads/../../../x", "", "zzz"},
		{"GET", "/v2/a/b/c/tags/list", "n=-1&last=../", ""},
		{"DELETE", "/v2/app/manifests/sha256:" + strings.Repeat("c", 64), "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.body)
	}
	// On tmpfs when there is one: the registry fsyncs what it stores, and
	// on a busy disk each fsync can take seconds, which stalls the fuzzer.
	parent, err := os.MkdirTemp("/dev/shm", "zeitwork-registry-fuzz-")
	if err != nil {
		parent = f.TempDir()
	} else {
		f.Cleanup(func() { os.RemoveAll(parent) })
	}
	dir := filepath.Join(parent, "registry")
	reg, err := New(dir, func(*http.Request) error { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		u := &url.URL{Path: path, RawQuery: query}
		req, err := http.NewRequest(method, "http://registry.test"+u.RequestURI(), bytes.NewReader([]byte(body)))
		if err != nil {
			return // not a request a client could send
		}
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { defer close(done); reg.ServeHTTP(rec, req) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("%s %s?%s hangs:\n%s", method, path, query, buf[:runtime.Stack(buf, true)])
		}
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s answered %d: %s", method, path, query, rec.Code, rec.Body.String())
		}
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "registry" {
				t.Fatalf("%s %s wrote %s outside the registry directory", method, path, e.Name())
			}
		}
	})
}
