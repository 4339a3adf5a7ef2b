package operator

import (
	"context"
	"testing"
	"time"
)

// TestPruneEdgeLogLines: edge access log lines past LogRetention go with
// the prune pass, in batches; recent ones stay.
func TestPruneEdgeLogLines(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t, func(c *Config) { c.LogRetention = 24 * time.Hour })
	o.pruneBatch = 2 // several batches
	p := newProject(t, s)
	for i := range 6 {
		age := 25 * time.Hour
		text := "old"
		if i == 5 {
			age, text = 23*time.Hour, "recent"
		}
		if _, err := s.Pool.Exec(ctx, "INSERT INTO edge_log_lines (project_id, logged_at, line) VALUES ($1, $2, $3)",
			p.ID, time.Now().Add(-age), text); err != nil {
			t.Fatal(err)
		}
	}
	o.prune(ctx)
	var left []string
	rows, err := s.Pool.Query(ctx, "SELECT line FROM edge_log_lines ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var l string
		rows.Scan(&l)
		left = append(left, l)
	}
	if len(left) != 1 || left[0] != "recent" {
		t.Fatalf("edge log lines after prune: %v", left)
	}
}
