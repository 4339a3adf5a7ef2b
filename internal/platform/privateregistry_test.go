package platform

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/image/registrytest"
)

// TestPrivateRegistryImages deploys (as `zeitwork deploy --image` does) an
// image from a private registry the project has a login for: the
// operator pins it and the node pulls it with that login, the app goes
// live, the registry sees only that login (never a node's token), the
// host its blobs are redirected to sees none, and no node file holds the
// password.
func TestPrivateRegistryImages(t *testing.T) {
	const password = "private-registry-token-5c1d"
	reg := registrytest.New(t, "alice", password)
	elsewhere := strings.TrimPrefix(reg.Elsewhere.URL, "http://")
	e := startEnv(t, func(c *Config) { c.AllowedRegistries = []string{reg.Host, elsewhere} })
	ctx := context.Background()

	layout := e.sampleLayout("private", examples.SampleConfig)
	ref := reg.Host + "/acme/app:v1"
	dst, _ := name.ParseReference(ref)
	if _, err := image.Push(ctx, layout+":"+examples.SampleTag, dst, &authn.Basic{Username: "alice", Password: password}, nil); err != nil {
		t.Fatal(err)
	}
	if code := e.apiBody("POST", "/v1/projects", `{"name":"private","min_instances_per_region":1}`, e.p.Token, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	login := `{"host":"` + reg.Host + `","username":"alice","password":"` + password + `"}`
	if code := e.apiBody("PUT", "/v1/projects/private/registry", login, e.p.Token, nil); code != 200 {
		t.Fatalf("set registry login: %d", code)
	}
	reg.Reset()

	d, err := e.deploy("private", ref)
	if err != nil {
		t.Fatalf("deploy from the private registry: %v (%s)", err, describe(e.getDeployment(d.ID)))
	}
	if status, body, err := e.get(e.host("private"), "/"); err != nil || status != 200 {
		t.Fatalf("app: %d %q %v", status, body, err)
	}
	if n, other := reg.Authorized(); n == 0 || len(other) != 0 {
		t.Fatalf("registry got the login %d times, and other credentials %q", n, other)
	}
	if auths, hits := reg.Elsewhere.Seen(); hits == 0 || len(auths) != 0 {
		t.Fatalf("the redirect target got %d requests, credentials %q", hits, auths)
	}
	for _, n := range e.p.Nodes {
		filepath.WalkDir(n.StateDir(), func(path string, de fs.DirEntry, err error) error {
			if err != nil || !de.Type().IsRegular() {
				return nil
			}
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(password)) {
				t.Errorf("%s holds the registry password", path)
			}
			return nil
		})
	}
}
