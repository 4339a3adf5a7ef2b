package registrytest

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/internal/registry"
)

// SharedStorage serves two registries on two Storages that reach the same
// data (two connections to one database or bucket, as two operator
// replicas have) and checks that they are interchangeable: an image pushed
// through one is pulled through the other, byte for byte, and a chunked
// upload started on one is finished on the other.
func SharedStorage(t *testing.T, a, b registry.Storage) {
	t.Helper()
	hostA, hostB := serve(t, a), serve(t, b)
	img, err := random.Image(3<<20, 3) // layers over one PostgreSQL chunk
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, hostA, "app/web:v1"), img); err != nil {
		t.Fatalf("push through the first registry: %v", err)
	}
	got, err := remote.Image(ref(t, hostB, "app/web:v1"))
	if err != nil {
		t.Fatalf("pull through the second registry: %v", err)
	}
	want, _ := img.Digest()
	if d, err := got.Digest(); err != nil || d != want {
		t.Fatalf("pulled %v (%v), pushed %v", d, err, want)
	}
	layers, _ := got.Layers()
	wantLayers, _ := img.Layers()
	for i, l := range layers {
		gotBytes := readLayer(t, l.Compressed)
		if !bytes.Equal(gotBytes, readLayer(t, wantLayers[i].Compressed)) {
			t.Errorf("layer %d differs after the round trip", i)
		}
	}
	crossReplicaUpload(t, hostA, hostB)
}

// crossReplicaUpload starts an upload on one registry, sends its chunks
// to the other, and finishes it on the first: behind one address, each
// request of a push may reach another replica.
func crossReplicaUpload(t *testing.T, hostA, hostB string) {
	t.Helper()
	data := bytes.Repeat([]byte("zeitwork"), 300_000) // 2.4 MB
	resp := do(t, "POST", "http://"+hostA+"/v2/app/web/blobs/uploads/", nil, "")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	half := len(data) / 2
	resp = do(t, "PATCH", "http://"+hostB+loc, data[:half], "0-"+itoa(half-1))
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-"+itoa(half-1) {
		t.Fatalf("chunk on the second registry: %d range %q", resp.StatusCode, resp.Header.Get("Range"))
	}
	digest := sha256Digest(data)
	resp = do(t, "PUT", "http://"+hostA+loc+"?digest="+digest, data[half:], itoa(half)+"-"+itoa(len(data)-1))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish upload on the first registry: %d", resp.StatusCode)
	}
	resp = do(t, "GET", "http://"+hostB+"/v2/app/web/blobs/"+digest, nil, "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("blob through the second registry: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func serve(t *testing.T, st registry.Storage) string {
	t.Helper()
	return serveRegistry(t, registry.NewWithStorage(st, nil, slog.New(slog.DiscardHandler)))
}

func serveRegistry(t *testing.T, g *registry.Registry) string {
	t.Helper()
	srv := httptest.NewServer(g)
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

func readLayer(t *testing.T, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func do(t *testing.T, method, url string, body []byte, contentRange string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentRange != "" {
		req.Header.Set("Content-Range", contentRange)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
