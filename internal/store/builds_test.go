package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// TestClaimBuildSkipsLockedRows: a replica claiming while another one's
// claim is not yet committed gets the next build at once, never the same
// one, and never waits for the other.
func TestClaimBuildSkipsLockedRows(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, _ := fixture(t, s)
	for range 2 {
		if _, err := s.CreateBuild(ctx, db.CreateBuildParams{ID: uuid.New(), ProjectID: p.ID, Source: "upload", Dockerfile: "Dockerfile"}); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	first, err := s.WithTx(tx).ClaimBuild(ctx, db.ClaimBuildParams{Owner: "a/1", LeaseSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	second, err := s.ClaimBuild(quick, db.ClaimBuildParams{Owner: "b/1", LeaseSeconds: 30})
	if err != nil {
		t.Fatalf("second claim while the first is uncommitted: %v", err)
	}
	if second.ID == first.ID || second.Status != "building" || second.Attempts != 1 || second.LeaseExpiresAt == nil {
		t.Fatalf("claimed %+v twice or wrongly (first %s)", second, first.ID)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimBuild(ctx, db.ClaimBuildParams{Owner: "c/1", LeaseSeconds: 30}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("third claim of an empty queue: %v", err)
	}
	// Only the holder renews; a renewal by anyone else finds no row.
	if _, err := s.RenewBuildLease(ctx, db.RenewBuildLeaseParams{ID: first.ID, Owner: "b/1", LeaseSeconds: 30}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("renewal by another replica: %v", err)
	}
	if _, err := s.RenewBuildLease(ctx, db.RenewBuildLeaseParams{ID: first.ID, Owner: "a/1", LeaseSeconds: 30}); err != nil {
		t.Fatalf("renewal by the holder: %v", err)
	}
}
