package operator

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/store/db"
)

// TestPruneSessions: the prune loop deletes ended sessions, old links,
// failures out of the window and old change stream rows, and keeps the
// rest.
func TestPruneSessions(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	p := newProject(t, s) // its insert records a change
	u, err := s.CreateUser(ctx, db.CreateUserParams{ID: uuid.New(), OrganisationID: nullUUID(p.OrganisationID), Email: "ada@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	for i, ends := range []time.Time{time.Now().Add(-time.Second), time.Now().Add(time.Hour)} {
		if _, err := s.CreateSession(ctx, db.CreateSessionParams{ID: uuid.New(), UserID: u.ID, TokenHash: []byte{byte(i)}, CsrfToken: "x", ExpiresAt: ends}); err != nil {
			t.Fatal(err)
		}
	}
	for i, ends := range []time.Time{time.Now().Add(-25 * time.Hour), time.Now().Add(time.Minute)} {
		if _, err := s.CreateSignInLink(ctx, db.CreateSignInLinkParams{ID: uuid.New(), UserID: u.ID, TokenHash: []byte{byte(i)}, ExpiresAt: ends}); err != nil {
			t.Fatal(err)
		}
	}
	s.RecordSignInFailure(ctx, db.RecordSignInFailureParams{Email: "old@acme.test", ClientAddr: "192.0.2.1"})
	s.RecordSignInFailure(ctx, db.RecordSignInFailureParams{Email: "new@acme.test", ClientAddr: "192.0.2.1"})
	for _, q := range []string{
		"UPDATE sign_in_failures SET at = now() - interval '16 minutes' WHERE email = 'old@acme.test'",
		"UPDATE changes SET at = now() - interval '2 hours'",
		"INSERT INTO changes (organisation_id, kind, object) SELECT organisation_id, 'project', 'recent' FROM projects",
	} {
		if _, err := s.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	o.prune(ctx)
	for table, want := range map[string]int{"sessions": 1, "sign_in_links": 1, "sign_in_failures": 1, "changes": 1} {
		var n int
		if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != want {
			t.Errorf("%s after prune: %d rows (%v), want %d", table, n, err, want)
		}
	}
}
