package operator_test

import (
	"context"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestVersionedHostsCannotBeTaken: a project whose name spells another
// project's versioned URL is refused, and a project named in the old form
// "<project>-<deployment>" gets a host of its own, never the deployment's.
func TestVersionedHostsCannotBeTaken(t *testing.T) {
	h := start(t)
	n := h.register("eu", "10.0.0.1:7443")
	deploy := func(project string) api.Deployment {
		t.Helper()
		if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: project, MinInstancesPerRegion: 1}, nil); code != 201 {
			t.Fatalf("create project %s: %d", project, code)
		}
		ref := h.pushImage(project, image.ImageConfig{Entrypoint: []string{"/app"}})
		var d api.Deployment
		if code := h.call("POST", "/v1/projects/"+project+"/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
			t.Fatalf("deploy %s: %d", project, code)
		}
		h.eventually("placement of "+project, func() bool {
			for _, in := range running(n.desired()) {
				if in.Deployment == d.ID {
					n.report(in.ID, api.InstanceHealthy, "")
					return true
				}
			}
			return false
		})
		h.eventually(project+" live", func() bool { return h.deployment(d.ID).Live })
		return d
	}
	web := deploy("web")
	if !strings.HasPrefix(web.URL, "http://"+web.ID+"--web.apps.test") {
		t.Fatalf("versioned URL %q", web.URL)
	}

	var e api.Error
	taken := api.VersionedLabel("web", web.ID)
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: taken}, &e); code != 400 ||
		!strings.Contains(e.Error, "reserved for versioned deployment URLs") || e.Hint == "" {
		t.Fatalf("project named %s: %d %+v", taken, code, e)
	}
	thief := deploy("web-" + web.ID)

	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	var routes api.RouteTable
	h.call("GET", "/v1/edge/routes", edgeToken, nil, &routes)
	owner := map[string]string{}
	for _, r := range routes.Routes {
		if prev, dup := owner[r.Host]; dup {
			t.Fatalf("host %s routes to %s and %s", r.Host, prev, r.Deployment)
		}
		owner[r.Host] = r.Deployment
	}
	for host, want := range map[string]string{
		"web.apps.test":                web.ID,
		taken + ".apps.test":           web.ID,
		"web-" + web.ID + ".apps.test": thief.ID,
		api.VersionedLabel("web-"+web.ID, thief.ID) + ".apps.test": thief.ID,
	} {
		if owner[host] != want {
			t.Errorf("%s routes to %q, want %q (table %+v)", host, owner[host], want, routes.Routes)
		}
	}
}
