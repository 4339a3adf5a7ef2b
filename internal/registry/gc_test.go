package registry

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// age makes every file under dir look untouched for d.
func age(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
}

func TestGCRemovesOnlyUnreferencedBlobs(t *testing.T) {
	dir := t.TempDir()
	g, base := start(t, dir)
	host := base[len("http://"):]
	kept, gone := mustRandom(t), mustRandom(t)
	if err := remote.Write(ref(t, host, "a:v1"), kept); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, host, "b:v1"), gone); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, "DELETE", base+"/v2/b/manifests/"+digest(t, gone), nil); resp.StatusCode != 202 {
		t.Fatalf("delete manifest: %d", resp.StatusCode)
	}
	orphan := []byte("pushed, never referenced")
	do(t, "POST", base+"/v2/b/blobs/uploads/?digest="+sha(orphan), orphan)
	resp, _ := do(t, "POST", base+"/v2/b/blobs/uploads/", nil)
	abandoned := base + resp.Header.Get("Location")
	age(t, dir, 48*time.Hour)

	fresh := []byte("pushed just now; its manifest is still coming")
	do(t, "POST", base+"/v2/b/blobs/uploads/?digest="+sha(fresh), fresh)
	resp, _ = do(t, "POST", base+"/v2/b/blobs/uploads/", nil)
	active := base + resp.Header.Get("Location")

	st, err := g.GC(context.Background(), time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	goneLayers, _ := gone.Layers()
	if want := len(goneLayers) + 3; st.Blobs != want || st.Uploads != 1 { // + config, manifest, orphan
		t.Errorf("gc removed %d blobs and %d uploads, want %d and 1", st.Blobs, st.Uploads, want)
	}
	if _, err := remote.Image(ref(t, host, "a:v1")); err != nil {
		t.Fatalf("referenced image damaged: %v", err)
	}
	img, _ := remote.Image(ref(t, host, "a:v1"))
	if _, err := img.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	layers, _ := kept.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if resp, _ := do(t, "HEAD", base+"/v2/a/blobs/"+d.String(), nil); resp.StatusCode != 200 {
			t.Errorf("layer %s of a referenced image: %d", d, resp.StatusCode)
		}
	}
	for _, c := range []struct {
		url  string
		want int
	}{
		{base + "/v2/b/blobs/" + sha(orphan), 404},
		{base + "/v2/b/blobs/" + sha(fresh), 200},
		{abandoned, 404},
		{active, 204},
	} {
		if resp, _ := do(t, "GET", c.url, nil); resp.StatusCode != c.want {
			t.Errorf("GET %s after gc: %d, want %d", c.url, resp.StatusCode, c.want)
		}
	}
	if g.has(context.Background(), blobLinkKey("b", sha(orphan))) {
		t.Error("the repository still links a deleted blob")
	}
}

// TestGCSparesBlobsOfAManifestBeingPushed: a blob GC found unreferenced is
// not deleted if a manifest that references it is stored before GC gets to
// it, even when the blob itself is old (a client that found the layer
// already in the registry and pushed only its manifest).
func TestGCSparesBlobsOfAManifestBeingPushed(t *testing.T) {
	dir := t.TempDir()
	g, base := start(t, dir)
	cfg := []byte("{}")
	do(t, "POST", base+"/v2/app/blobs/uploads/?digest="+sha(cfg), cfg)
	age(t, dir, 48*time.Hour)

	marked, err := g.mark(context.Background())
	if err != nil || marked[sha(cfg)] {
		t.Fatalf("mark: %v %v", marked, err)
	}
	m := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + sha(cfg) + `","size":2},"layers":[]}`
	if resp, body := do(t, "PUT", base+"/v2/app/manifests/v1", []byte(m)); resp.StatusCode != 201 {
		t.Fatalf("put manifest: %d %s", resp.StatusCode, body)
	}
	if _, deleted := g.sweep(context.Background(), sha(cfg), time.Hour); deleted {
		t.Fatal("gc deleted the config of a manifest stored after it marked")
	}
	if resp, _ := do(t, "GET", base+"/v2/app/blobs/"+sha(cfg), nil); resp.StatusCode != 200 {
		t.Fatalf("config after gc: %d", resp.StatusCode)
	}
}
