package operator_test

import (
	"context"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestStatusShowsOnlyYourOrganisation: with two organisations on one
// fleet, each sees its own projects and deployments and, of the nodes, only
// those its instances run on, counting only its own instances there.
func TestStatusShowsOnlyYourOrganisation(t *testing.T) {
	h := start(t)
	eve, err := operator.Bootstrap(context.Background(), h.store, "other-org", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}
	a := h.register("eu", "10.0.0.1:7443")
	b := h.register("eu", "10.0.0.2:7443")
	for _, p := range []struct{ token, project string }{{h.token, "web"}, {eve, "shop"}} {
		h.call("POST", "/v1/projects", p.token, api.CreateProjectRequest{Name: p.project, MinInstancesPerRegion: 2}, nil)
		ref := h.pushAs(p.token, p.project)
		if code := h.call("POST", "/v1/projects/"+p.project+"/deployments", p.token, api.CreateDeploymentRequest{Image: ref}, nil); code != 201 {
			t.Fatalf("deploy %s: %d", p.project, code)
		}
	}
	h.eventually("placement", func() bool { return len(running(a.desired()))+len(running(b.desired())) == 4 })
	idle := h.register("eu", "10.0.0.3:7443") // joins after placement: runs nothing
	placed := map[string]map[string]int{}     // project -> node -> instances
	for _, n := range []*fakeNode{a, b, idle} {
		for _, in := range running(n.desired()) {
			if placed[in.Project] == nil {
				placed[in.Project] = map[string]int{}
			}
			placed[in.Project][n.id]++
		}
	}
	for _, c := range []struct{ token, project string }{{h.token, "web"}, {eve, "shop"}} {
		var st api.Status
		if code := h.call("GET", "/v1/status", c.token, nil, &st); code != 200 {
			t.Fatalf("status: %d", code)
		}
		if len(st.Projects) != 1 || st.Projects[0].Name != c.project {
			t.Errorf("%s sees projects %+v", c.project, st.Projects)
		}
		if len(st.Recent) != 1 || st.Recent[0].Project != c.project {
			t.Errorf("%s sees deployments %+v", c.project, st.Recent)
		}
		if len(st.Nodes) != len(placed[c.project]) {
			t.Errorf("%s sees %d nodes; its instances run on %d", c.project, len(st.Nodes), len(placed[c.project]))
		}
		for _, n := range st.Nodes {
			if want, ok := placed[c.project][n.ID]; !ok || n.Instances != want {
				t.Errorf("%s sees node %s with %d instances; it has %d there", c.project, n.Hostname, n.Instances, want)
			}
		}
	}
}
