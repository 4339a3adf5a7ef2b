package operator

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/seal"
	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// TestRouteTableIsOneSnapshot: a promotion that commits while the route
// table is being read must not tear it. Reading the projects triggers the
// promotion of a new deployment over the live one; the table
// must still map the project URL to a deployment with healthy backends (the
// old one, as of the snapshot). Read one query at a time, the table had
// the projects from before the promotion and the deployments from after
// it, and no route for the project URL at all.
func TestRouteTableIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	o, err := New(Config{Store: s, Sealer: sealer, AppsDomain: "apps.test", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	old, next := liveAndNext(t, s.Queries)

	pool := &interleave{txBeginner: s.Pool, table: "projects", after: func() {
		if err := o.promote(ctx, next); err != nil {
			t.Errorf("promote during the read: %v", err)
		}
	}}
	table, err := o.buildRoutes(ctx, pool, 1)
	if err != nil {
		t.Fatal(err)
	}
	if pool.calls == 0 {
		t.Fatal("the promotion never ran during the read")
	}
	if p, _ := s.GetProject(ctx, old.ProjectID); p.LiveDeploymentID.UUID != next.ID {
		t.Fatalf("the promotion did not happen: live is %v", p.LiveDeploymentID)
	}
	var project *api.Route
	for i, r := range table.Routes {
		if r.Host == "web.apps.test" {
			project = &table.Routes[i]
		}
	}
	if project == nil {
		t.Fatalf("no route for the project URL: %+v", table.Routes)
	}
	if project.Deployment != old.Slug || len(project.Backends) != 3 {
		t.Fatalf("project URL routes to %s with %d backends; want %s, as of the snapshot, with 3", project.Deployment, len(project.Backends), old.Slug)
	}
	// Next time round the table is the promoted state.
	table, err = o.buildRoutes(ctx, s.Pool, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range table.Routes {
		if r.Host == "web.apps.test" && (r.Deployment != next.Slug || len(r.Backends) != 3) {
			t.Fatalf("after the promotion: %+v", r)
		}
	}
}

// liveAndNext makes project "web" with a live ready deployment and a newer
// deploying one, each with three healthy instances on a ready node.
func liveAndNext(t *testing.T, q *db.Queries) (old, next db.Deployment) {
	t.Helper()
	ctx := context.Background()
	org, err := q.CreateOrganisation(ctx, db.CreateOrganisationParams{ID: uuid.New(), Name: "acme"})
	must(t, err)
	p, err := q.CreateProject(ctx, db.CreateProjectParams{ID: uuid.New(), OrganisationID: org.ID, Name: "web", MinInstancesPerRegion: 3, Port: 8080, MemoryMib: 256, Vcpus: 1})
	must(t, err)
	_, err = q.UpsertRegion(ctx, db.UpsertRegionParams{ID: "local", Name: "local"})
	must(t, err)
	n, err := q.CreateNode(ctx, db.CreateNodeParams{ID: uuid.New(), RegionID: "local", Hostname: "h", TunnelAddr: "127.0.0.1:1", Driver: "qemu", Accel: "tcg"})
	must(t, err)
	var deps []db.Deployment
	for _, slug := range []string{"aaaaaaaa", "bbbbbbbb"} {
		d, err := q.CreateDeployment(ctx, db.CreateDeploymentParams{ID: uuid.New(), Slug: slug, ProjectID: p.ID, ImageRef: "r/x:1"})
		must(t, err)
		for range 3 {
			in, err := q.CreateInstance(ctx, db.CreateInstanceParams{ID: uuid.New(), DeploymentID: d.ID, RegionID: "local", NodeID: uuid.NullUUID{UUID: n.ID, Valid: true}})
			must(t, err)
			_, err = q.ReportInstance(ctx, db.ReportInstanceParams{ID: in.ID, NodeID: in.NodeID, State: api.InstanceHealthy})
			must(t, err)
		}
		deps = append(deps, d)
	}
	old, err = q.TransitionDeployment(ctx, db.TransitionDeploymentParams{ID: deps[0].ID, FromStatus: api.StatusDeploying, ToStatus: api.StatusReady})
	must(t, err)
	_, err = q.GoLive(ctx, db.GoLiveParams{ProjectID: p.ID, DeploymentID: old.ID})
	must(t, err)
	return old, deps[1]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// interleave runs after, once, on its own connection, as soon as a query
// from table, in a transaction begun through it, has answered.
type interleave struct {
	txBeginner
	table string
	after func()
	once  sync.Once
	calls int
}

func (i *interleave) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	tx, err := i.txBeginner.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &interleavedTx{Tx: tx, i: i}, nil
}

type interleavedTx struct {
	pgx.Tx
	i *interleave
}

func (tx *interleavedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := tx.Tx.Query(ctx, sql, args...)
	if strings.Contains(sql, "FROM "+tx.i.table+" ") {
		tx.i.once.Do(func() { tx.i.calls++; tx.i.after() })
	}
	return rows, err
}
