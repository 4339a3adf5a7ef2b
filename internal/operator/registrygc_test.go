package operator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestRegistryGCRuns: the operator collects its registry periodically: the
// blobs of a deleted manifest go away.
func TestRegistryGCRuns(t *testing.T) {
	srv := operatortest.Start(t, func(c *operator.Config) {
		c.RegistryGCInterval = 50 * time.Millisecond
		c.RegistryGCGrace = 2 * time.Second // longer than the push, shorter than the wait below
	})
	h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, srv: srv}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	d, _ := name.NewDigest(ref, name.Insecure)
	reg := func(method, path string) int {
		req, _ := http.NewRequest(method, h.url+path, nil)
		req.SetBasicAuth("u", h.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	manifest := "/v2/web/manifests/" + d.DigestStr()
	if code := reg("GET", manifest); code != 200 {
		t.Fatalf("manifest: %d", code)
	}
	if code := reg("DELETE", manifest); code != 202 {
		t.Fatalf("delete manifest: %d", code)
	}
	h.eventually("gc of the manifest's blob", func() bool {
		return reg("HEAD", strings.Replace(manifest, "/manifests/", "/blobs/", 1)) == 404
	})
}
