package platform

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/image/registrytest"
)

// TestCachedDiskStaysWithItsRepository: Alice's project runs a private
// image, so the node caches its root disk. Mallory's project obtained the
// image's manifest and config (not its layers), serves them from its own
// registry and deploys that reference by digest: the operator pins it (the
// manifest and config are there), but the node must not hand out Alice's
// disk, and the deployment fails with the image not found.
func TestCachedDiskStaysWithItsRepository(t *testing.T) {
	alice := registrytest.New(t, "alice", "alice-registry-token-8e21")
	mallory := registrytest.New(t, "mallory", "mallory-registry-token-41ac")
	hostOf := func(r *registrytest.Registry) string { return strings.TrimPrefix(r.Elsewhere.URL, "http://") }
	e := startEnv(t, func(c *Config) {
		c.AllowedRegistries = []string{alice.Host, hostOf(alice), mallory.Host, hostOf(mallory)}
	})
	ctx := context.Background()
	aliceAuth := &authn.Basic{Username: alice.User, Password: alice.Password}
	dst, _ := name.ParseReference(alice.Host + "/alice/app:v1")
	layout := e.sampleLayout("alice", examples.SampleConfig)
	digest, err := image.Push(ctx, layout+":"+examples.SampleTag, dst, aliceAuth, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*registrytest.Registry{alice, mallory} {
		if code := e.apiBody("POST", "/v1/projects", `{"name":"`+p.User+`","min_instances_per_region":1}`, e.p.Token, nil); code != 201 {
			t.Fatalf("create project %s: %d", p.User, code)
		}
		login := `{"host":"` + p.Host + `","username":"` + p.User + `","password":"` + p.Password + `"}`
		if code := e.apiBody("PUT", "/v1/projects/"+p.User+"/registry", login, e.p.Token, nil); code != 200 {
			t.Fatalf("set registry login of %s: %d", p.User, code)
		}
	}
	if d, err := e.deploy("alice", alice.Host+"/alice/app@"+digest); err != nil {
		t.Fatalf("alice's deployment: %v (%s)", err, describe(e.getDeployment(d.ID)))
	}

	copyManifestAndConfig(t, dst, aliceAuth, mallory, "x")
	alice.Reset()
	d, err := e.deploy("mallory", mallory.Host+"/x@"+digest)
	if err == nil {
		t.Fatalf("mallory's deployment of alice's manifest went live: %s", describe(e.getDeployment(d.ID)))
	}
	if got := describe(e.getDeployment(d.ID)); !strings.Contains(got, "not found") {
		t.Errorf("mallory's deployment: %s, want the image not found", got)
	}
	if n, other := alice.Authorized(); n != 0 || len(other) != 0 {
		t.Errorf("alice's registry got her login %d times and %q during mallory's deployment", n, other)
	}
	if n, other := mallory.Authorized(); n == 0 || len(other) != 0 {
		t.Errorf("mallory's registry got mallory's login %d times, and other credentials %q", n, other)
	}
}

// copyManifestAndConfig puts the manifest and config of src (not its
// layers) into repo of dst, with dst's login.
func copyManifestAndConfig(t *testing.T, src name.Reference, auth authn.Authenticator, dst *registrytest.Registry, repo string) {
	t.Helper()
	desc, err := remote.Get(src, remote.WithAuth(auth))
	if err != nil {
		t.Fatal(err)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.RawConfigFile()
	cfgDigest, _ := img.ConfigName()
	do := func(method, url, ctype string, body []byte, want int) *http.Response {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.SetBasicAuth(dst.User, dst.Password)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s %s: %v %v", method, url, resp, err)
		}
		resp.Body.Close()
		return resp
	}
	resp := do("POST", dst.URL+"/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = dst.URL + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	do("PUT", loc+sep+"digest="+cfgDigest.String(), "", cfg, http.StatusCreated)
	do("PUT", dst.URL+"/v2/"+repo+"/manifests/v1", string(desc.MediaType), desc.Manifest, http.StatusCreated)
	dst.Reset()
}
