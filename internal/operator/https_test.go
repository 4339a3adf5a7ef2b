package operator_test

import (
	"context"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestProjectHTTPSSettings: HSTS and the versioned URL's redirect set with
// PATCH are shown on the project and reach the edges: every route of the
// project carries the max-age, and only the versioned URL is served over
// plain HTTP when the project opts out. An out-of-range max-age is
// refused with a hint and changes nothing.
func TestProjectHTTPSSettings(t *testing.T) {
	h := start(t)
	n := h.register("eu", "127.0.0.1:9")
	d := h.liveProject(n, "web")
	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	versioned, live := api.VersionedLabel("web", d.ID), "web"
	routes := func() map[string]api.Route {
		var rt api.RouteTable
		h.call("GET", "/v1/edge/routes", edgeToken, nil, &rt)
		out := map[string]api.Route{}
		for _, r := range rt.Routes {
			if r.Project == "web" {
				out[strings.SplitN(r.Host, ".", 2)[0]] = r
			}
		}
		return out
	}
	var p api.Project
	h.call("GET", "/v1/projects/web", h.token, nil, &p)
	if p.HSTSMaxAge != 0 || !p.HTTPSRedirectVersioned {
		t.Fatalf("defaults: hsts %d, redirect versioned %v; want 0, true", p.HSTSMaxAge, p.HTTPSRedirectVersioned)
	}
	if rs := routes(); len(rs) != 2 || rs[versioned].PlainHTTP || rs[versioned].HSTSMaxAge != 0 {
		t.Fatalf("routes before any setting: %+v", rs)
	}

	age, no := 31536000, false
	if code := h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{
		HSTSMaxAge: &age, HTTPSRedirectVersioned: &no}, &p); code != 200 {
		t.Fatalf("set HTTPS settings: %d", code)
	}
	if p.HSTSMaxAge != age || p.HTTPSRedirectVersioned {
		t.Fatalf("project after update: hsts %d, redirect versioned %v", p.HSTSMaxAge, p.HTTPSRedirectVersioned)
	}
	h.eventually("HTTPS settings in the route table", func() bool {
		rs := routes()
		v, l := rs[versioned], rs[live]
		return v.HSTSMaxAge == age && v.PlainHTTP && l.HSTSMaxAge == age && !l.PlainHTTP && l.Host != ""
	})

	for _, bad := range []int{-1, api.MaxHSTSMaxAge + 1} {
		var e api.Error
		if code := h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{HSTSMaxAge: &bad}, &e); code != 400 ||
			!strings.Contains(e.Error, "HSTS max-age") || !strings.Contains(e.Hint, "63072000") {
			t.Fatalf("max-age %d: %d %+v", bad, code, e)
		}
	}
	h.call("GET", "/v1/projects/web", h.token, nil, &p)
	if p.HSTSMaxAge != age || p.HTTPSRedirectVersioned {
		t.Fatalf("a refused update changed the settings: %+v", p)
	}

	// A source-only update keeps them; turning HSTS off keeps the opt-out.
	zero := 0
	h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{HSTSMaxAge: &zero}, &p)
	if p.HSTSMaxAge != 0 || p.HTTPSRedirectVersioned {
		t.Fatalf("after turning HSTS off: %+v", p)
	}
}
