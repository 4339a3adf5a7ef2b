package operator

import (
	"context"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/store"
)

func eventKinds(t *testing.T, s *store.Store) []string {
	t.Helper()
	var kinds []string
	rows, err := s.Pool.Query(context.Background(), "SELECT kind FROM events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		rows.Scan(&k)
		kinds = append(kinds, k)
	}
	return kinds
}

func TestPruneKeepsRecentRecords(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	o.pruneBatch = 2 // several batches
	d := newDeployment(t, s, newProject(t, s), "r/x:1")
	for range 5 {
		o.event(ctx, d, "old", "an old event")
	}
	o.event(ctx, d, "new", "a recent event")
	if _, err := s.Pool.Exec(ctx, "UPDATE events SET created_at = now() - interval '31 days' WHERE kind = 'old'"); err != nil {
		t.Fatal(err)
	}
	o.prune(ctx)
	if kinds := eventKinds(t, s); len(kinds) != 1 || kinds[0] != "new" {
		t.Fatalf("events after prune: %v", kinds)
	}
}

// Another replica holds the reconcile lock (or this one is in a long pass):
// old records are pruned all the same, by the operator's own loop.
func TestPruneRunsOutsideTheReconcileLock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	o, s := newTestOperator(t)
	d := newDeployment(t, s, newProject(t, s), "r/x:1")
	o.event(ctx, d, "old", "an old event")
	if _, err := s.Pool.Exec(ctx, "UPDATE events SET created_at = now() - interval '31 days'"); err != nil {
		t.Fatal(err)
	}
	other, err := s.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1)", reconcileLock); err != nil {
		t.Fatal(err)
	}
	defer other.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", reconcileLock)
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(15 * time.Second)
	for len(eventKinds(t, s)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("old events not pruned while another replica reconciles")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
