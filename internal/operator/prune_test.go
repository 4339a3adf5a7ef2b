package operator

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/seal"
	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

func TestPruneKeepsRecentRecords(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	o, err := New(Config{Store: s, Sealer: sealer, AppsDomain: "apps.test", RegistryDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	org, _ := s.CreateOrganisation(ctx, db.CreateOrganisationParams{ID: uuid.New(), Name: "acme"})
	p, _ := s.CreateProject(ctx, db.CreateProjectParams{ID: uuid.New(), OrganisationID: org.ID, Name: "web", MinInstancesPerRegion: 1, Port: 8080, MemoryMib: 256, Vcpus: 1})
	d, err := s.CreateDeployment(ctx, db.CreateDeploymentParams{ID: uuid.New(), Slug: "abcdefgh", ProjectID: p.ID, ImageRef: "r/x:1"})
	if err != nil {
		t.Fatal(err)
	}
	o.event(ctx, d, "old", "an old event")
	o.event(ctx, d, "new", "a recent event")
	if _, err := s.Pool.Exec(ctx, "UPDATE events SET created_at = now() - interval '31 days' WHERE kind = 'old'"); err != nil {
		t.Fatal(err)
	}
	o.prune(ctx)
	var kinds []string
	rows, _ := s.Pool.Query(ctx, "SELECT kind FROM events ORDER BY id")
	for rows.Next() {
		var k string
		rows.Scan(&k)
		kinds = append(kinds, k)
	}
	if len(kinds) != 1 || kinds[0] != "new" {
		t.Fatalf("events after prune: %v", kinds)
	}
	// Passes come often; pruning runs at most once a minute.
	o.event(ctx, d, "old", "another old event")
	s.Pool.Exec(ctx, "UPDATE events SET created_at = now() - interval '31 days' WHERE kind = 'old'")
	o.prune(ctx)
	var n int
	s.Pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE kind = 'old'").Scan(&n)
	if n != 1 {
		t.Fatalf("pruned again within the minute: %d old events left", n)
	}
}
