package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestMigrateFromEmptyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	url := storetest.URL(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The test database is a migrated clone; drop everything to start empty.
	if _, err := pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := store.Migrate(ctx, pool); err != nil {
			t.Fatalf("migrate pass %d: %v", i, err)
		}
	}
	var tables int
	err = pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)`,
		[]string{"organisations", "users", "api_tokens", "projects", "deployments", "instances", "regions", "nodes", "images", "env_vars", "events", "log_lines"}).Scan(&tables)
	if err != nil || tables != 12 {
		t.Fatalf("found %d of 12 tables (%v)", tables, err)
	}
}

func fixture(t *testing.T, s *store.Store) (db.Project, db.Node) {
	t.Helper()
	ctx := context.Background()
	org, err := s.CreateOrganisation(ctx, db.CreateOrganisationParams{ID: uuid.New(), Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreateProject(ctx, db.CreateProjectParams{ID: uuid.New(), OrganisationID: org.ID, Name: "web", MinInstancesPerRegion: 3, Port: 8080, MemoryMib: 256, Vcpus: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertRegion(ctx, db.UpsertRegionParams{ID: "local", Name: "local"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.CreateNode(ctx, db.CreateNodeParams{ID: uuid.New(), RegionID: "local", Hostname: "h", TunnelAddr: "127.0.0.1:1", Driver: "qemu", Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	return p, n
}

func TestProjectNamesAreUnique(t *testing.T) {
	s := storetest.New(t)
	p, _ := fixture(t, s)
	_, err := s.CreateProject(context.Background(), db.CreateProjectParams{ID: uuid.New(), OrganisationID: p.OrganisationID, Name: "web", MinInstancesPerRegion: 3, Port: 8080, MemoryMib: 256, Vcpus: 1})
	if !errors.Is(store.Classify(err), store.ErrConflict) {
		t.Fatalf("duplicate project: got %v, want ErrConflict", err)
	}
	_, err = s.GetProjectByName(context.Background(), db.GetProjectByNameParams{OrganisationID: p.OrganisationID, Name: "nope"})
	if !errors.Is(store.Classify(err), store.ErrNotFound) {
		t.Fatalf("missing project: got %v, want ErrNotFound", err)
	}
}

func TestInstanceLifecycle(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, n := fixture(t, s)
	d, err := s.CreateDeployment(ctx, db.CreateDeploymentParams{ID: uuid.New(), Slug: "abcdefgh", ProjectID: p.ID, ImageRef: "r/x:1"})
	if err != nil {
		t.Fatal(err)
	}
	node := uuid.NullUUID{UUID: n.ID, Valid: true}
	in, err := s.CreateInstance(ctx, db.CreateInstanceParams{ID: uuid.New(), DeploymentID: d.ID, RegionID: "local", NodeID: node})
	if err != nil {
		t.Fatal(err)
	}
	// A report from another node must not touch the instance.
	if _, err := s.ReportInstance(ctx, db.ReportInstanceParams{ID: in.ID, NodeID: uuid.NullUUID{UUID: uuid.New(), Valid: true}, State: "healthy"}); err == nil {
		t.Fatal("report from a foreign node accepted")
	}
	got, err := s.ReportInstance(ctx, db.ReportInstanceParams{ID: in.ID, NodeID: node, State: "healthy", Address: "10.0.0.2"})
	if err != nil || got.HealthyAt == nil {
		t.Fatalf("healthy report: %+v %v", got, err)
	}
	lost, err := s.MarkNodeInstancesLost(ctx, node)
	if err != nil || len(lost) != 1 || lost[0].Desired != "stopped" {
		t.Fatalf("lost = %+v, %v", lost, err)
	}
	if err := s.StopUnplacedInstances(ctx); err != nil {
		t.Fatal(err)
	}
	live, err := s.ListNodeInstances(ctx, node)
	if err != nil || len(live) != 0 {
		t.Fatalf("instances of the dead node still listed: %+v %v", live, err)
	}
}

func TestStaleNodesGoDown(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	_, n := fixture(t, s)
	if down, err := s.MarkStaleNodesDown(ctx, 60); err != nil || len(down) != 0 {
		t.Fatalf("fresh node marked down: %v %v", down, err)
	}
	if _, err := s.Pool.Exec(ctx, "UPDATE nodes SET last_heartbeat_at = now() - interval '2 minutes'"); err != nil {
		t.Fatal(err)
	}
	down, err := s.MarkStaleNodesDown(ctx, 60)
	if err != nil || len(down) != 1 || down[0].ID != n.ID {
		t.Fatalf("stale node not marked down: %v %v", down, err)
	}
	if _, err := s.HeartbeatNode(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	back, _ := s.GetNode(ctx, n.ID)
	if back.State != "ready" {
		t.Fatalf("heartbeat did not bring node back: %s", back.State)
	}
}

func TestNotifyOnChange(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN zeitwork_changes"); err != nil {
		t.Fatal(err)
	}
	fixture(t, s)
	n, err := conn.Conn().WaitForNotification(ctx)
	if err != nil || n.Payload == "" {
		t.Fatalf("no notification: %v", err)
	}
}
