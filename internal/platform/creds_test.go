package platform

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// authRecorder is a registry a tenant runs: it serves anyone and records
// every Authorization header it receives.
type authRecorder struct {
	mu    sync.Mutex
	auths []string
	hits  int
	next  http.Handler
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.hits++
	if h := r.Header.Get("Authorization"); h != "" {
		a.auths = append(a.auths, h)
	}
	a.mu.Unlock()
	a.next.ServeHTTP(w, r)
}

// TestImagesFromOtherRegistries deploys an image from a registry the test
// runs (allowed by configuration, as it is on loopback): the deploy works,
// the registry never sees a credential, the app gets its env var, and no
// file of the node holds that env var's value. A second organisation
// cannot deploy the first one's image from the built-in registry.
func TestImagesFromOtherRegistries(t *testing.T) {
	rec := &authRecorder{next: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	foreign := httptest.NewServer(rec)
	defer foreign.Close()
	host := strings.TrimPrefix(foreign.URL, "http://")
	e := startEnv(t, func(c *Config) { c.AllowedRegistries = []string{host} })
	ctx := context.Background()

	layout := e.sampleLayout("creds", examples.SampleConfig)
	ref := host + "/creds/app:v1"
	dst, _ := name.ParseReference(ref)
	if _, err := image.Push(ctx, layout+":"+examples.SampleTag, dst, authn.Anonymous, nil); err != nil {
		t.Fatal(err)
	}
	code := e.apiBody("POST", "/v1/projects", `{"name":"creds","min_instances_per_region":1}`, e.p.Token, nil)
	if code != 201 {
		t.Fatalf("create project: %d", code)
	}
	const secret = "node-disk-must-not-hold-this-7f3a"
	if code := e.apiBody("PUT", "/v1/projects/creds/env/API_SECRET", `{"value":"`+secret+`"}`, e.p.Token, nil); code != 204 {
		t.Fatalf("set env: %d", code)
	}
	rec.mu.Lock()
	rec.auths, rec.hits = nil, 0
	rec.mu.Unlock()

	d, err := e.deploy("creds", ref)
	if err != nil {
		t.Fatalf("deploy from the test's registry: %v (%s)", err, describe(e.getDeployment(d.ID)))
	}
	rec.mu.Lock()
	auths, hits := rec.auths, rec.hits
	rec.mu.Unlock()
	if len(auths) != 0 || hits == 0 {
		t.Fatalf("the tenant's registry got %d requests, credentials %q", hits, auths)
	}
	if status, body, err := e.get(e.host("creds"), "/env?k=API_SECRET"); err != nil || status != 200 || body != "API_SECRET="+secret+"\n" {
		t.Fatalf("app env: %d %q %v", status, body, err)
	}

	t.Run("no node file holds the env var's value", func(t *testing.T) {
		for _, n := range e.p.Nodes {
			filepath.WalkDir(n.StateDir(), func(path string, de fs.DirEntry, err error) error {
				if err != nil || !de.Type().IsRegular() {
					return nil
				}
				if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s holds the secret", path)
				}
				return nil
			})
		}
	})

	t.Run("a second organisation cannot deploy the first one's image", func(t *testing.T) {
		own := strings.TrimPrefix(e.p.APIURL, "http://") + "/creds:v1"
		dst, _ := name.ParseReference(own)
		if _, err := image.Push(ctx, layout+":"+examples.SampleTag, dst, &authn.Basic{Username: "u", Password: e.p.Token}, nil); err != nil {
			t.Fatal(err)
		}
		other, err := operator.Bootstrap(ctx, e.p.Store, "globex", "eve@globex.test")
		if err != nil {
			t.Fatal(err)
		}
		if code := e.apiBody("POST", "/v1/projects", `{"name":"shop"}`, other, nil); code != 201 {
			t.Fatalf("create project: %d", code)
		}
		var apiErr api.Error
		if code := e.apiBody("POST", "/v1/projects/shop/deployments", `{"image":"`+own+`"}`, other, &apiErr); code != 403 || apiErr.Hint == "" {
			t.Fatalf("second organisation deployed the first one's image: %d %+v", code, apiErr)
		}
	})
}
