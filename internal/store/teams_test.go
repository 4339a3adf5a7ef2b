package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// TestTeamsMigrationKeepsAccess: migration 0011 makes every existing user
// the owner of their organisation and the bootstrap user the
// installation's administrator, and leaves their tokens working unlimited.
func TestTeamsMigrationKeepsAccess(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	if err := store.MigrateTo(ctx, pool, 10); err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `
		INSERT INTO organisations (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'acme'), ('00000000-0000-0000-0000-00000000000b', 'globex');
		INSERT INTO users (id, organisation_id, email, created_at) VALUES
			('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000000a', 'dev@acme.test', now() - interval '1 day'),
			('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-00000000000b', 'eve@globex.test', now());
		INSERT INTO api_tokens (id, kind, user_id, name, token_hash) VALUES
			(gen_random_uuid(), 'user', '00000000-0000-0000-0000-000000000001', 'bootstrap', '\x01'),
			(gen_random_uuid(), 'user', '00000000-0000-0000-0000-000000000002', 'laptop', '\x02');`)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT u.email, m.role, o.name, u.installation_admin
		FROM users u JOIN memberships m ON m.user_id = u.id JOIN organisations o ON o.id = m.organisation_id ORDER BY u.email`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var email, role, org string
		var admin bool
		if err := rows.Scan(&email, &role, &org, &admin); err != nil {
			t.Fatal(err)
		}
		s := email + " " + role + " of " + org
		if admin {
			s += " admin"
		}
		got = append(got, s)
	}
	want := []string{"dev@acme.test owner of acme admin", "eve@globex.test owner of globex"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("after the migration: %q, want %q", got, want)
	}
	var limited int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE organisation_id IS NOT NULL OR role IS NOT NULL
		OR project_ids <> '{}' OR expires_at IS NOT NULL OR revoked_at IS NOT NULL`).Scan(&limited); err != nil || limited != 0 {
		t.Fatalf("%d existing tokens got limits (%v)", limited, err)
	}
}
