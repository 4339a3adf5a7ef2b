package operator_test

import (
	"context"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestProjectRateLimits: limits set with PATCH are shown on the project
// and reach the edges with every route of the project; an invalid one is
// refused with a hint and changes nothing; a zero rate turns one off.
func TestProjectRateLimits(t *testing.T) {
	h := start(t)
	h.register("eu", "10.0.0.1:7443")
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, nil); code != 201 {
		t.Fatalf("deploy: %d", code)
	}
	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	routeLimits := func() []*api.RateLimits {
		var rt api.RouteTable
		h.call("GET", "/v1/edge/routes", edgeToken, nil, &rt)
		var out []*api.RateLimits
		for _, r := range rt.Routes {
			if r.Project == "web" {
				out = append(out, r.Limits)
			}
		}
		return out
	}
	if ls := routeLimits(); len(ls) == 0 || ls[0] != nil {
		t.Fatalf("routes before any limit: %+v, want some, without limits", ls)
	}

	var p api.Project
	if code := h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{
		ProjectRateLimit: &api.RateLimit{Rate: 100, Burst: 200}, ClientRateLimit: &api.RateLimit{Rate: 2.5}}, &p); code != 200 {
		t.Fatalf("set limits: %d", code)
	}
	want := api.RateLimits{Project: api.RateLimit{Rate: 100, Burst: 200}, Client: api.RateLimit{Rate: 2.5, Burst: 3}}
	if p.RateLimits == nil || *p.RateLimits != want {
		t.Fatalf("project limits %+v, want %+v (a missing burst is a second's worth)", p.RateLimits, want)
	}
	h.eventually("limits in the route table", func() bool {
		ls := routeLimits()
		for _, l := range ls {
			if l == nil || *l != want {
				return false
			}
		}
		return len(ls) > 0
	})

	var e api.Error
	if code := h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{
		ClientRateLimit: &api.RateLimit{Rate: -1}}, &e); code != 400 || !strings.Contains(e.Error, "per-client rate") || e.Hint == "" {
		t.Fatalf("negative rate: %d %+v", code, e)
	}
	h.call("GET", "/v1/projects/web", h.token, nil, &p)
	if p.RateLimits == nil || *p.RateLimits != want {
		t.Fatalf("a refused update changed the limits: %+v", p.RateLimits)
	}

	// Turning one off keeps the other.
	h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{ClientRateLimit: &api.RateLimit{}}, &p)
	if p.RateLimits == nil || p.RateLimits.Client != (api.RateLimit{}) || p.RateLimits.Project != want.Project {
		t.Fatalf("after turning the client limit off: %+v", p.RateLimits)
	}
	p = api.Project{}
	h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{ProjectRateLimit: &api.RateLimit{}}, &p)
	if p.Name != "web" || p.RateLimits != nil {
		t.Fatalf("after turning both off: %+v", p.RateLimits)
	}
}
