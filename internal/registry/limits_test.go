package registry

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// start serves a registry with opts and returns it and its base URL.
func start(t *testing.T, dir string, opts ...Option) (*Registry, string) {
	t.Helper()
	g, err := New(dir, nil, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

// doStream is do with a body of unknown length (chunked), as a client
// that streams a layer sends it.
func doStream(t *testing.T, method, url string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestBlobSizeLimit(t *testing.T) {
	_, base := start(t, t.TempDir(), WithMaxBlobSize(1000))
	exact, over := bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("b"), 1001)
	if resp, body := do(t, "POST", base+"/v2/a/blobs/uploads/?digest="+sha(exact), exact); resp.StatusCode != 201 {
		t.Fatalf("blob at the limit: %d %s", resp.StatusCode, body)
	}
	tooLarge := func(what string, resp *http.Response, body string) {
		t.Helper()
		if resp.StatusCode != 413 || !strings.Contains(body, "SIZE_INVALID") {
			t.Errorf("%s: %d %s, want 413 SIZE_INVALID", what, resp.StatusCode, body)
		}
	}
	resp, body := do(t, "POST", base+"/v2/a/blobs/uploads/?digest="+sha(over), over)
	tooLarge("monolithic", resp, body)
	resp, body = doStream(t, "POST", base+"/v2/a/blobs/uploads/?digest="+sha(over), over)
	tooLarge("monolithic without a length", resp, body)

	for _, send := range []func(*testing.T, string, string, []byte) (*http.Response, string){do2, doStream} {
		resp, _ = do(t, "POST", base+"/v2/a/blobs/uploads/", nil)
		loc := base + resp.Header.Get("Location")
		if resp, body = send(t, "PATCH", loc, over[:600]); resp.StatusCode != 202 {
			t.Fatalf("first chunk: %d %s", resp.StatusCode, body)
		}
		resp, body = send(t, "PATCH", loc, over[600:])
		tooLarge("second chunk", resp, body)
		if resp, _ = do(t, "GET", loc, nil); resp.StatusCode != 404 {
			t.Errorf("upload kept after it went over the limit: %d", resp.StatusCode)
		}
	}
}

// do2 is do without headers, in the shape of doStream.
func do2(t *testing.T, method, url string, body []byte) (*http.Response, string) {
	return do(t, method, url, body)
}

func TestManifestSizeLimit(t *testing.T) {
	_, base := start(t, t.TempDir(), WithMaxManifestSize(100))
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[],"pad":%q}`, strings.Repeat("x", 100)))
	for _, send := range []func(*testing.T, string, string, []byte) (*http.Response, string){do2, doStream} {
		if resp, body := send(t, "PUT", base+"/v2/a/manifests/v1", m); resp.StatusCode != 413 || !strings.Contains(body, "SIZE_INVALID") {
			t.Errorf("manifest over the limit: %d %s", resp.StatusCode, body)
		}
	}
}

// TestUploadLocksAreBounded: requests for upload IDs that were never
// started leave nothing behind, and finished or cancelled uploads drop
// their lock.
func TestUploadLocksAreBounded(t *testing.T) {
	g, base := start(t, t.TempDir())
	for range 50 {
		id := make([]byte, 16)
		rand.Read(id)
		for _, m := range []string{"GET", "PATCH", "PUT", "DELETE"} {
			if resp, _ := do(t, m, base+"/v2/a/blobs/uploads/"+hex.EncodeToString(id), []byte("x")); resp.StatusCode != 404 {
				t.Fatalf("%s of an unknown upload: %d", m, resp.StatusCode)
			}
		}
	}
	blob := []byte("hello")
	resp, _ := do(t, "POST", base+"/v2/a/blobs/uploads/", nil)
	loc := base + resp.Header.Get("Location")
	do(t, "PATCH", loc, blob)
	if resp, _ = do(t, "PUT", loc+"?digest="+sha(blob), nil); resp.StatusCode != 201 {
		t.Fatalf("finish: %d", resp.StatusCode)
	}
	resp, _ = do(t, "POST", base+"/v2/a/blobs/uploads/", nil)
	if resp, _ = do(t, "DELETE", base+resp.Header.Get("Location"), nil); resp.StatusCode != 204 {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	g.uploadMu.Lock()
	n := len(g.uploading)
	g.uploadMu.Unlock()
	if n != 0 {
		t.Fatalf("%d upload locks left with no request in flight", n)
	}
}
