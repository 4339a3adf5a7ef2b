package operator

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/seal"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// newTestOperator is an operator on a fresh database whose loops do not run:
// the test calls the reconciler, the resolver and handlers itself.
func newTestOperator(t *testing.T, tweak ...func(*Config)) (*Operator, *store.Store) {
	t.Helper()
	s := storetest.New(t)
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	cfg := Config{Store: s, Sealer: sealer, AppsDomain: "apps.test", RegistryDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range tweak {
		f(&cfg)
	}
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o, s
}

// newProject makes an organisation and a project that needs one instance.
func newProject(t *testing.T, s *store.Store) db.Project {
	t.Helper()
	ctx := context.Background()
	org, err := s.CreateOrganisation(ctx, db.CreateOrganisationParams{ID: uuid.New(), Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreateProject(ctx, db.CreateProjectParams{ID: uuid.New(), OrganisationID: org.ID, Name: "web",
		MinInstancesPerRegion: 1, Port: 8080, MemoryMib: 256, Vcpus: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newDeployment(t *testing.T, s *store.Store, p db.Project, ref string) db.Deployment {
	t.Helper()
	d, err := s.CreateDeployment(context.Background(), db.CreateDeploymentParams{
		ID: uuid.New(), Slug: newSlug(), ProjectID: p.ID, ImageRef: ref})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// healthyDeployment is a deploying deployment with its image pinned and one
// healthy instance on a ready node: the scheduler calls it ready.
func healthyDeployment(t *testing.T, s *store.Store, p db.Project) (db.Deployment, db.Node) {
	t.Helper()
	ctx := context.Background()
	d := newDeployment(t, s, p, "registry.test/web:v1")
	img, err := s.UpsertImage(ctx, db.UpsertImageParams{ID: uuid.New(), Reference: d.ImageRef, Digest: "sha256:" + uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetDeploymentImage(ctx, db.SetDeploymentImageParams{ID: d.ID, ImageID: uuid.NullUUID{UUID: img.ID, Valid: true}}); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, s)
	in, err := s.CreateInstance(ctx, db.CreateInstanceParams{ID: uuid.New(), DeploymentID: d.ID, RegionID: n.RegionID,
		NodeID: uuid.NullUUID{UUID: n.ID, Valid: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReportInstance(ctx, db.ReportInstanceParams{ID: in.ID, NodeID: in.NodeID, State: api.InstanceHealthy, Timings: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	d, err = s.GetDeployment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d, n
}

func newNode(t *testing.T, s *store.Store) db.Node {
	t.Helper()
	ctx := context.Background()
	if _, err := s.UpsertRegion(ctx, db.UpsertRegionParams{ID: "eu", Name: "eu"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.CreateNode(ctx, db.CreateNodeParams{ID: uuid.New(), RegionID: "eu", Hostname: "n",
		TunnelAddr: "10.0.0.1:7443", Driver: "fake", Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func reload(t *testing.T, s *store.Store, d db.Deployment) (db.Deployment, db.Project) {
	t.Helper()
	ctx := context.Background()
	d, err := s.GetDeployment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.GetProject(ctx, d.ProjectID)
	if err != nil {
		t.Fatal(err)
	}
	return d, p
}

// The user stops a deployment while the resolver is fetching its image;
// when the fetch fails, the resolver's write must not bring it back.
func TestStopDuringResolveIsNotRevived(t *testing.T) {
	for _, c := range []struct{ name, ref string }{
		{"retry after a passing error", "127.0.0.1:1/web:v1"}, // connection refused
		{"permanent error", "127.0.0.1:1/web:UPPER::case"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			o, s := newTestOperator(t, func(c *Config) { c.ImageRetry = time.Hour })
			stale := newDeployment(t, s, newProject(t, s), c.ref) // the copy the resolver started with
			stopped, err := o.stopDeployment(ctx, stale)
			if err != nil || stopped.Status != api.StatusStopped {
				t.Fatalf("stop: %v %+v", err, stopped)
			}
			o.resolver.resolve(ctx, stale)
			d, _ := reload(t, s, stale)
			if d.Status != api.StatusStopped || d.StatusReason != "stopped by user" || !d.UpdatedAt.Equal(stopped.UpdatedAt) {
				t.Fatalf("after the resolver: %s %q (updated %v, stopped at %v)", d.Status, d.StatusReason, d.UpdatedAt, stopped.UpdatedAt)
			}
		})
	}
}

// A deployment past its deploy timeout whose instances turn healthy in the
// same pass is failed once and then not promoted from the pass's copy.
func TestTimedOutDeploymentIsNotPromoted(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t, func(c *Config) { c.DeployTimeout = time.Minute })
	d, _ := healthyDeployment(t, s, newProject(t, s))
	if _, err := s.Pool.Exec(ctx, "UPDATE deployments SET created_at = now() - interval '1 hour' WHERE id = $1", d.ID); err != nil {
		t.Fatal(err)
	}
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	d, p := reload(t, s, d)
	if d.Status != api.StatusFailed || p.LiveDeploymentID.Valid || d.ReadyAt != nil {
		t.Fatalf("status %s (%q), live %v, ready at %v", d.Status, d.StatusReason, p.LiveDeploymentID.Valid, d.ReadyAt)
	}
}

// A promotion from a copy read before the user stopped the deployment
// neither marks it ready nor points the project URL at it.
func TestPromotionLosesToStop(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	stale, _ := healthyDeployment(t, s, newProject(t, s))
	if _, err := o.stopDeployment(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := o.promote(ctx, stale); !isLost(err) {
		t.Fatalf("promote a stopped deployment: %v", err)
	}
	d, p := reload(t, s, stale)
	if d.Status != api.StatusStopped || p.LiveDeploymentID.Valid {
		t.Fatalf("status %s, live %v", d.Status, p.LiveDeploymentID)
	}
}

// An event is recorded even when the context of what caused it has ended:
// a build's ends as it finishes, and its "created" event went missing from
// the deployment's history (a "record event: context canceled" warning in
// `zeitwork up`).
func TestEventOutlivesItsContext(t *testing.T) {
	o, s := newTestOperator(t)
	d := newDeployment(t, s, newProject(t, s), "registry.test/web:v1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o.event(ctx, d, "created", "deployment created from build 12345678")
	evs, err := s.ListDeploymentEvents(context.Background(), db.ListDeploymentEventsParams{
		DeploymentID: uuid.NullUUID{UUID: d.ID, Valid: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != "created" {
		t.Fatalf("events = %+v, want the created event", evs)
	}
}
