package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
)

const token = "s3cret-token"

const pullToken = "pull-only"

func tokenAuth(r *http.Request) error {
	tok, _ := Credentials(r)
	switch {
	case tok == token:
		return nil
	case tok == pullToken && r.Method != http.MethodGet && r.Method != http.MethodHead:
		return fmt.Errorf("%w: this token may only pull", ErrForbidden)
	case tok == pullToken:
		return nil
	}
	return errors.New("a valid API token is required")
}

func serve(t *testing.T, dir string, authorize func(*http.Request) error) string {
	t.Helper()
	reg, err := New(dir, authorize, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func ref(t *testing.T, host, repo string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func digest(t *testing.T, img interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestPushPullSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	host := serve(t, dir, nil)
	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, host, "team/app:v1"), img); err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref(t, host, "team/app:multi"), idx); err != nil {
		t.Fatal(err)
	}

	host2 := serve(t, dir, nil) // a new handler on the same directory
	got, err := remote.Image(ref(t, host2, "team/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, got) != digest(t, img) {
		t.Errorf("pulled %s, pushed %s", digest(t, got), digest(t, img))
	}
	layers, _ := got.Layers()
	for _, l := range layers {
		rc, err := l.Compressed() // verifies the digest as it reads
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("read layer: %v", err)
		}
		rc.Close()
	}
	gotIdx, err := remote.Index(ref(t, host2, "team/app:multi"))
	if err != nil || digest(t, gotIdx) != digest(t, idx) {
		t.Errorf("index: %v", err)
	}
	byDigest, err := remote.Image(ref(t, host2, "team/app@"+digest(t, img)))
	if err != nil || digest(t, byDigest) != digest(t, img) {
		t.Errorf("by digest: %v", err)
	}
	repo, _ := name.NewRepository(host2 + "/team/app")
	tags, err := remote.List(repo)
	if err != nil || strings.Join(tags, ",") != "multi,v1" {
		t.Errorf("tags = %v, %v", tags, err)
	}
}

func TestChunkedUploadWithStreamingLayer(t *testing.T) {
	host := serve(t, t.TempDir(), nil)
	content := bytes.Repeat([]byte("chunk"), 100000)
	// A stream layer's digest is unknown until it has been read, which
	// makes go-containerregistry upload it with PATCH then PUT.
	layer := stream.NewLayer(io.NopCloser(bytes.NewReader(content)))
	img, err := mutate.AppendLayers(mustRandom(t), layer)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, host, "stream:v1"), img); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(ref(t, host, "stream:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, got) != digest(t, img) {
		t.Error("digest changed")
	}
}

func mustRandom(t *testing.T) v1.Image {
	img, err := random.Image(10, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestAuth(t *testing.T) {
	host := serve(t, t.TempDir(), tokenAuth)
	img := mustRandom(t)
	err := remote.Write(ref(t, host, "app:v1"), img)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("anonymous push: err = %v, want 401", err)
	}
	basic := &authn.Basic{Username: "zeitwork", Password: token}
	if err := remote.Write(ref(t, host, "app:v1"), img, remote.WithAuth(basic)); err != nil {
		t.Fatalf("push with basic auth: %v", err)
	}
	bearer := authn.FromConfig(authn.AuthConfig{RegistryToken: token})
	if _, err := remote.Image(ref(t, host, "app:v1"), remote.WithAuth(bearer)); err != nil {
		t.Fatalf("pull with bearer token: %v", err)
	}
	puller := &authn.Basic{Username: "node", Password: pullToken}
	if _, err := remote.Image(ref(t, host, "app:v1"), remote.WithAuth(puller)); err != nil {
		t.Fatalf("pull with a pull-only token: %v", err)
	}
	err = remote.Write(ref(t, host, "app:v2"), mustRandom(t), remote.WithAuth(puller))
	if err == nil || !strings.Contains(err.Error(), "DENIED") {
		t.Fatalf("push with a pull-only token: err = %v, want DENIED (403)", err)
	}
	wrong := &authn.Basic{Username: "zeitwork", Password: "nope"}
	if _, err := remote.Image(ref(t, host, "app:v1"), remote.WithAuth(wrong)); err == nil {
		t.Fatal("pull with a wrong token succeeded")
	}
	resp, err := http.Get("http://" + host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("base check: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// do sends a raw request and returns the response with its body read.
func do(t *testing.T, method, url string, body []byte, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestUploadProtocol(t *testing.T) {
	base := "http://" + serve(t, t.TempDir(), nil)
	blob := []byte("hello registry")

	resp, _ := do(t, "POST", base+"/v2/a/blobs/uploads/?digest="+sha(blob), blob)
	if resp.StatusCode != 201 || resp.Header.Get("Docker-Content-Digest") != sha(blob) {
		t.Fatalf("monolithic upload: %d", resp.StatusCode)
	}
	resp, _ = do(t, "POST", base+"/v2/a/blobs/uploads/?digest="+sha([]byte("other")), blob)
	if resp.StatusCode != 400 {
		t.Errorf("upload with a wrong digest: %d, want 400", resp.StatusCode)
	}

	// Chunked: POST, two PATCHes, an out-of-order PATCH refused, PUT.
	resp, _ = do(t, "POST", base+"/v2/b/blobs/uploads/", nil)
	loc := base + resp.Header.Get("Location")
	if resp.StatusCode != 202 {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	do(t, "PATCH", loc, blob[:5], "Content-Range", "0-4")
	if resp, _ = do(t, "PATCH", loc, blob[5:], "Content-Range", "0-100"); resp.StatusCode != 416 {
		t.Errorf("out-of-order chunk: %d, want 416", resp.StatusCode)
	}
	if resp, _ = do(t, "PATCH", loc, blob[5:], "Content-Range", "5-13"); resp.Header.Get("Range") != "0-13" {
		t.Errorf("range after two chunks: %q", resp.Header.Get("Range"))
	}
	if resp, _ = do(t, "PUT", loc+"?digest="+sha(blob), nil); resp.StatusCode != 201 {
		t.Fatalf("finish upload: %d", resp.StatusCode)
	}
	resp, body := do(t, "GET", base+"/v2/b/blobs/"+sha(blob), nil)
	if resp.StatusCode != 200 || body != string(blob) {
		t.Errorf("get blob: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", base+"/v2/b/blobs/"+sha(blob), nil, "Range", "bytes=6-13")
	if resp.StatusCode != 206 || body != "registry" {
		t.Errorf("range get: %d %q", resp.StatusCode, body)
	}

	// A repository sees only its own blobs; mounting links one in.
	if resp, _ = do(t, "HEAD", base+"/v2/c/blobs/"+sha(blob), nil); resp.StatusCode != 404 {
		t.Errorf("blob of another repository: %d, want 404", resp.StatusCode)
	}
	if resp, _ = do(t, "POST", base+"/v2/c/blobs/uploads/?mount="+sha(blob)+"&from=nothere", nil); resp.StatusCode != 202 {
		t.Errorf("mount from a repository without the blob: %d, want 202", resp.StatusCode)
	}
	if resp, _ = do(t, "POST", base+"/v2/c/blobs/uploads/?mount="+sha(blob)+"&from=a", nil); resp.StatusCode != 201 {
		t.Errorf("mount: %d, want 201", resp.StatusCode)
	}
	if resp, _ = do(t, "HEAD", base+"/v2/c/blobs/"+sha(blob), nil); resp.StatusCode != 200 || resp.ContentLength != int64(len(blob)) {
		t.Errorf("head mounted blob: %d %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestManifestValidation(t *testing.T) {
	base := "http://" + serve(t, t.TempDir(), nil)
	missing := sha([]byte("never pushed"))
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":1},"layers":[]}`, missing)
	resp, body := do(t, "PUT", base+"/v2/app/manifests/v1", []byte(m))
	if resp.StatusCode != 400 || !strings.Contains(body, "MANIFEST_BLOB_UNKNOWN") {
		t.Errorf("manifest with a missing blob: %d %s", resp.StatusCode, body)
	}
	cfg := []byte("{}")
	do(t, "POST", base+"/v2/app/blobs/uploads/?digest="+sha(cfg), cfg)
	m = strings.Replace(m, missing, sha(cfg), 1)
	resp, body = do(t, "PUT", base+"/v2/app/manifests/"+sha([]byte("x")), []byte(m))
	if resp.StatusCode != 400 || !strings.Contains(body, "DIGEST_INVALID") {
		t.Errorf("manifest under the wrong digest: %d %s", resp.StatusCode, body)
	}
	if resp, _ = do(t, "PUT", base+"/v2/app/manifests/v1", []byte(m)); resp.StatusCode != 201 {
		t.Fatalf("put manifest: %d", resp.StatusCode)
	}
	resp, body = do(t, "GET", base+"/v2/app/manifests/v1", nil)
	if resp.Header.Get("Content-Type") != "application/vnd.oci.image.manifest.v1+json" || body != m {
		t.Errorf("get manifest: %q %q", resp.Header.Get("Content-Type"), body)
	}
	for _, p := range []string{"/v2/../etc/manifests/v1", "/v2/UPPER/manifests/v1", "/v2/_x/tags/list", "/v2/app/manifests/../../x"} {
		if resp, _ := do(t, "GET", base+p, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, _ = do(t, "GET", base+"/v2/nope/tags/list", nil); resp.StatusCode != 404 {
		t.Errorf("tags of a missing repository: %d", resp.StatusCode)
	}
}
