package operator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/store"
)

// insertAuditEntry writes an entry created age ago and returns its id.
func insertAuditEntry(t *testing.T, s *store.Store, age time.Duration) int64 {
	t.Helper()
	var id int64
	err := s.Pool.QueryRow(context.Background(), `INSERT INTO audit_log (created_at, actor_kind, action, method, path, status)
		VALUES (now() - make_interval(secs => $1), 'user', 'env.set', 'PUT', '/v1/projects/web/env/A', 204) RETURNING id`,
		age.Seconds()).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func auditIDs(t *testing.T, s *store.Store) []int64 {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), "SELECT id FROM audit_log ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// TestAuditPruneRemovesOnlyOldEntries: entries past AuditRetention are
// deleted, in several batches; younger ones are kept.
func TestAuditPruneRemovesOnlyOldEntries(t *testing.T) {
	o, s := newTestOperator(t, func(c *Config) { c.AuditRetention = 24 * time.Hour })
	o.pruneBatch = 2
	for range 5 {
		insertAuditEntry(t, s, 25*time.Hour)
	}
	keep := []int64{insertAuditEntry(t, s, 23*time.Hour), insertAuditEntry(t, s, 0)}
	o.prune(context.Background())
	if got := auditIDs(t, s); len(got) != 2 || got[0] != keep[0] || got[1] != keep[1] {
		t.Fatalf("entries after prune: %v, want %v", got, keep)
	}
}

// TestAuditLogIsAppendOnly: the database refuses to update, delete or
// truncate entries, other than through the prune function, whose
// permission ends with it.
func TestAuditLogIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	_, s := newTestOperator(t)
	id := insertAuditEntry(t, s, 0)
	for _, stmt := range []string{
		"UPDATE audit_log SET status = 200, actor_kind = 'nobody'",
		"DELETE FROM audit_log",
		"TRUNCATE audit_log",
		// The prune function's permission ends when it returns.
		"SELECT audit_log_prune(1e9, 10); DELETE FROM audit_log",
	} {
		_, err := s.Pool.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", stmt, err)
		}
	}
	var status int
	var actor string
	if err := s.Pool.QueryRow(ctx, "SELECT status, actor_kind FROM audit_log WHERE id = $1", id).Scan(&status, &actor); err != nil {
		t.Fatalf("the entry is gone: %v", err)
	}
	if status != 204 || actor != "user" {
		t.Fatalf("the entry changed: %d %s", status, actor)
	}
}

// TestCanReadAudit: only owners and admins read the audit log, never a
// machine's token.
func TestCanReadAudit(t *testing.T) {
	for kind, want := range map[string]bool{kindUser: true, kindNode: false, kindEdge: false, kindBuild: false, "internal": false, "": false} {
		if got := canReadAudit(principal{kind: kind, role: roleAdmin}); got != want {
			t.Errorf("canReadAudit(%q) = %v, want %v", kind, got, want)
		}
	}
	for r, want := range map[role]bool{roleOwner: true, roleAdmin: true, roleDeveloper: false, roleViewer: false, roleNone: false} {
		if got := canReadAudit(principal{kind: kindUser, role: r}); got != want {
			t.Errorf("canReadAudit(user as %s) = %v, want %v", r, got, want)
		}
	}
}

// TestEveryWriteRouteHasAnAuditAction: a state-changing route added to the
// policy table without an action name would be recorded under its raw
// pattern, which `zeitwork audit` readers cannot filter on.
func TestEveryWriteRouteHasAnAuditAction(t *testing.T) {
	for _, rt := range (&Operator{}).table() {
		method, _, ok := strings.Cut(rt.pattern, " ")
		if !ok || method == "GET" || auditSkipped[rt.pattern] {
			continue
		}
		if auditActions[rt.pattern] == "" {
			t.Errorf("route %s has no name in auditActions (audit.go)", rt.pattern)
		}
	}
}
