package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

const inline = `window.__NUXT__={}`

func testFiles() fstest.MapFS {
	return fstest.MapFS{
		"index.html":        {Data: []byte(`<!DOCTYPE html><html><head><script type="module" src="/_nuxt/app.js"></script></head><body><script>` + inline + `</script><script type="application/json" id="d">[1]</script></body></html>`)},
		"_nuxt/app.js":      {Data: []byte("console.log(1)")},
		"favicon.ico":       {Data: []byte("ico")},
		"signin/index.html": {Data: []byte("other")},
	}
}

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestServesAssetsWithLongCache(t *testing.T) {
	w := get(t, NewHandler(testFiles()), "GET", "/_nuxt/app.js")
	if w.Code != 200 || w.Body.String() != "console.log(1)" {
		t.Fatalf("asset: %d %q", w.Code, w.Body.String())
	}
	if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Fatalf("asset Cache-Control %q", cc)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Fatalf("asset Content-Type %q", ct)
	}
}

func TestFallsBackToIndexUncached(t *testing.T) {
	h := NewHandler(testFiles())
	for _, p := range []string{"/", "/projects/web", "/deployments/abc", "/signin", "/signin/index.html", "/../../etc/passwd"} {
		w := get(t, h, "GET", p)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "__NUXT__") {
			t.Fatalf("%s: %d %q, want index.html", p, w.Code, w.Body.String())
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Fatalf("%s: Cache-Control %q, want no-cache", p, cc)
		}
	}
}

func TestMissingAssetIs404(t *testing.T) {
	w := get(t, NewHandler(testFiles()), "GET", "/_nuxt/gone.js")
	if w.Code != 404 || strings.Contains(w.Body.String(), "__NUXT__") {
		t.Fatalf("missing asset: %d %q", w.Code, w.Body.String())
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := NewHandler(testFiles())
	sum := sha256.Sum256([]byte(inline))
	want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	for _, p := range []string{"/", "/_nuxt/app.js", "/favicon.ico"} {
		w := get(t, h, "GET", p)
		csp := w.Header().Get("Content-Security-Policy")
		for _, part := range []string{"default-src 'none'", "frame-ancestors 'none'", "script-src 'self' " + want + ";", "connect-src 'self'", "style-src 'self';"} {
			if !strings.Contains(csp, part) {
				t.Fatalf("%s: CSP %q lacks %q", p, csp, part)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Fatalf("%s: CSP allows unsafe sources: %q", p, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("X-Frame-Options") != "DENY" {
			t.Fatalf("%s: headers %v", p, w.Header())
		}
	}
}

func TestOnlyReads(t *testing.T) {
	if w := get(t, NewHandler(testFiles()), "POST", "/"); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", w.Code)
	}
}

func TestPlaceholderWithoutBuild(t *testing.T) {
	w := get(t, NewHandler(fstest.MapFS{}), "GET", "/projects")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "make build") {
		t.Fatalf("placeholder: %d %q", w.Code, w.Body.String())
	}
}
