package operator

import (
	"context"
	"net/http"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// instancesOf lists d's instances the operator wants running.
func instancesOf(t *testing.T, s *store.Store, d db.Deployment) []db.Instance {
	t.Helper()
	ins, err := s.ListInstancesByDeployment(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.Instance
	for _, in := range ins {
		if in.Desired == "running" {
			out = append(out, in)
		}
	}
	return out
}

// A wake that arrives while the instances of a deployment that fell
// asleep are draining (out of the route table, VM still running, not yet
// stopped) keeps them: they go back into the route table at once, and no
// fresh instance is placed (a cold start for nothing, while the warm VM
// is stopped).
func TestWakeDuringDrainKeepsInstance(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	p := newProject(t, s)
	d := previewOf(t, o, s, p)
	before := instancesOf(t, s, d)
	if len(before) != 1 {
		t.Fatalf("%d instances, want 1", len(before))
	}
	ageAll(t, s)
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ = reload(t, s, d); !d.Asleep || !(instancesOf(t, s, d)[0].RetiringAt != nil) {
		t.Fatalf("not draining: asleep %v, instances %+v", d.Asleep, instancesOf(t, s, d))
	}

	if code, w := serve(t, o.edgeWake, api.WakeRequest{Deployment: d.Slug}); code != http.StatusOK {
		t.Fatalf("wake: %d %s", code, w.Body)
	}
	// Passes long after the drain period: a still-retiring instance
	// would be stopped by now.
	reconcileTwice(t, o, s)
	after := instancesOf(t, s, d)
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].RetiringAt != nil {
		t.Fatalf("after the wake: %+v, want only the draining instance %s, back in service", after, before[0].ID)
	}
	table, err := o.RouteTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range table.Routes {
		if r.Deployment == d.Slug && (len(r.Backends) != 1 || r.Backends[0].Instance != before[0].ID.String()) {
			t.Errorf("route %s: backends %+v, want the kept instance", r.Host, r.Backends)
		}
	}
}
