package operator

import (
	"context"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// A preview deployment (a build of another branch than production) that
// becomes healthy is marked ready but never takes the project URL, and
// the live production deployment keeps serving; its promotion is still a
// compare-and-set.
func TestPreviewIsNeverPromoted(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	p := newProject(t, s)
	prod, _ := healthyDeployment(t, s, p)
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, p = reload(t, s, prod); p.LiveDeploymentID.UUID != prod.ID {
		t.Fatalf("production deployment did not go live")
	}
	preview, _ := healthyDeployment(t, s, p)
	if _, err := s.Pool.Exec(ctx, "UPDATE deployments SET preview = true WHERE id = $1", preview.ID); err != nil {
		t.Fatal(err)
	}
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	preview, p = reload(t, s, preview)
	prod, _ = reload(t, s, prod)
	if preview.Status != api.StatusReady || p.LiveDeploymentID.UUID != prod.ID || prod.Status != api.StatusReady {
		t.Fatalf("preview %s, production %s, live %v (production %v)", preview.Status, prod.Status, p.LiveDeploymentID.UUID, prod.ID)
	}
	// A stale copy of a stopped preview is not promoted either.
	stale, _ := healthyDeployment(t, s, p)
	s.Pool.Exec(ctx, "UPDATE deployments SET preview = true WHERE id = $1", stale.ID)
	stale, _ = reload(t, s, stale)
	if _, err := o.stopDeployment(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := o.promote(ctx, stale); !isLost(err) {
		t.Fatalf("promote a stopped preview: %v", err)
	}
}
