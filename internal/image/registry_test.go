package image

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/zeitwork/zeitwork/internal/registry"
)

// TestPushThenBuildFromRegistry pushes a layout into the built-in registry
// over HTTP and builds a root disk back from it, as `zeitwork deploy
// --image ./layout` and a node agent do.
func TestPushThenBuildFromRegistry(t *testing.T) {
	const token = "tok"
	reg, err := registry.New(t.TempDir(), func(r *http.Request) error {
		if tok, _ := registry.Credentials(r); tok != token {
			return errors.New("bad token")
		}
		return nil
	}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	auth := &authn.Basic{Username: "zeitwork", Password: token}

	layoutDir, digest := sampleLayout(t)
	dst, _ := name.ParseReference(host + "/demo/app:v1")
	var updates int
	pushed, err := Push(context.Background(), layoutDir+":v1", dst, auth, func(Progress) { updates++ })
	if err != nil {
		t.Fatal(err)
	}
	if pushed != digest || updates == 0 {
		t.Errorf("pushed %s with %d progress updates, want %s and some", pushed, updates, digest)
	}

	s, err := NewStore(t.TempDir(), testLog(t), WithFreeSpace(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.RootDisk(context.Background(), host+"/demo/app:v1", auth)
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != digest || d.Config.Entrypoint[0] != "/app" {
		t.Errorf("disk %s config %+v", d.Digest, d.Config)
	}
	debugfs(t, d.Path, "stat /app")
	hit, err := s.RootDisk(context.Background(), host+"/demo/app@"+digest, auth)
	if err != nil || !hit.Timings.CacheHit {
		t.Errorf("second resolve by digest: hit=%v err=%v", hit != nil && hit.Timings.CacheHit, err)
	}

	_, err = s.RootDisk(context.Background(), host+"/demo/app:missing", auth)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "image "+host+"/demo/app:missing not found in registry") {
		t.Errorf("missing tag: %v", err)
	}
	_, err = s.RootDisk(context.Background(), host+"/demo/app:v1", &authn.Basic{Username: "x", Password: "wrong"})
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong token: %v", err)
	}
}
