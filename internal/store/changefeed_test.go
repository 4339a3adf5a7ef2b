package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// changeVersion reads the change feed (migration 0023).
func changeVersion(t *testing.T, s *store.Store) int64 {
	t.Helper()
	v, err := s.GetChangeVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestChangeFeedBumpsOncePerChangingTransaction: a transaction that changes
// many rows moves the version by one; an update that no notify trigger
// counts (a heartbeat) moves nothing.
func TestChangeFeedBumpsOncePerChangingTransaction(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, n := fixture(t, s)
	v0 := changeVersion(t, s)
	if _, err := s.HeartbeatNode(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if got := changeVersion(t, s); got != v0 {
		t.Fatalf("a heartbeat moved the version from %d to %d", v0, got)
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for port := 1; port <= 5; port++ {
			if _, err := tx.Exec(ctx, "UPDATE projects SET port = $2 WHERE id = $1", p.ID, port); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "UPDATE nodes SET state = 'down' WHERE id = $1", n.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := changeVersion(t, s); got != v0+1 {
		t.Fatalf("version %d after one transaction of six changes from %d, want %d", got, v0, v0+1)
	}
}

// TestChangeFeedFollowsCommitOrder: the transaction that changed first but
// committed last gets the later version, and the notifications carry the
// versions in that order; so a poll that saw the first commit's version
// still hears of the second.
func TestChangeFeedFollowsCommitOrder(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, _ := fixture(t, s)
	other, err := s.CreateProject(ctx, db.CreateProjectParams{ID: uuid.New(), OrganisationID: p.OrganisationID, Name: "api", MinInstancesPerRegion: 3, Port: 8080, MemoryMib: 256, Vcpus: 1})
	if err != nil {
		t.Fatal(err)
	}
	listener, err := s.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Release()
	if _, err := listener.Exec(ctx, "LISTEN zeitwork_changes"); err != nil {
		t.Fatal(err)
	}
	v0 := changeVersion(t, s)

	early, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx)
	if _, err := early.Exec(ctx, "UPDATE projects SET port = 81 WHERE id = $1", p.ID); err != nil {
		t.Fatal(err)
	}
	// A second transaction changes another row and commits first; the
	// first one's row lock would hold it here if it were taken at change
	// time rather than at commit.
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.Pool.Exec(wait, "UPDATE projects SET port = 82 WHERE id = $1", other.ID); err != nil {
		t.Fatalf("a change that commits first waited for one that commits later: %v", err)
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var versions []int64
	for len(versions) < 2 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := listener.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("notifications %v, then: %v", versions, err)
		}
		v, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			t.Fatalf("payload %q is not a version", n.Payload)
		}
		versions = append(versions, v)
	}
	if versions[0] != v0+1 || versions[1] != v0+2 {
		t.Fatalf("notified versions %v in commit order, want [%d %d]", versions, v0+1, v0+2)
	}
}

// TestChangeFeedDoesNotDeadlockRowLocks: two transactions that change rows
// in crossing order wait for each other's rows only, as they would without
// the feed; a feed row locked at the first change would deadlock them.
func TestChangeFeedDoesNotDeadlockRowLocks(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, _ := fixture(t, s)
	other, err := s.CreateProject(ctx, db.CreateProjectParams{ID: uuid.New(), OrganisationID: p.OrganisationID, Name: "api", MinInstancesPerRegion: 3, Port: 8080, MemoryMib: 256, Vcpus: 1})
	if err != nil {
		t.Fatal(err)
	}
	t1, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer t1.Rollback(ctx)
	t2, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Rollback(ctx)
	if _, err := t1.Exec(ctx, "UPDATE projects SET port = 81 WHERE id = $1", p.ID); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := t2.Exec(wait, "UPDATE projects SET port = 82 WHERE id = $1", other.ID); err != nil {
		t.Fatalf("second transaction's own row: %v", err)
	}
	// t1 now wants t2's row and waits until t2 commits.
	done := make(chan error, 1)
	go func() {
		_, err := t1.Exec(ctx, "UPDATE projects SET port = 83 WHERE id = $1", other.ID)
		if err == nil {
			err = t1.Commit(ctx)
		}
		done <- err
	}()
	if err := t2.Commit(ctx); err != nil {
		t.Fatalf("commit of the second transaction: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first transaction: %v", err)
	}
}
