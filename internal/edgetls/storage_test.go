package edgetls

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestStorageRoundTrip(t *testing.T) {
	srv, token := newOperator(t)
	s := newStorage(srv, token)
	ctx := context.Background()
	if _, err := s.Load(ctx, "certificates/ca/a.test/a.test.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load of a missing key: %v, want fs.ErrNotExist", err)
	}
	keys := []string{"certificates/ca/a.test/a.test.crt", "certificates/ca/a.test/a.test.key", "certificates/ca/b.test/b.test.crt", "acme/ca/users/x.json"}
	for _, k := range keys {
		if err := s.Store(ctx, k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load(ctx, keys[1])
	if err != nil || string(got) != "value of "+keys[1] {
		t.Fatalf("load = %q, %v", got, err)
	}
	ki, err := s.Stat(ctx, keys[0])
	if err != nil || !ki.IsTerminal || ki.Size != int64(len("value of "+keys[0])) || time.Since(ki.Modified) > time.Minute {
		t.Fatalf("stat = %+v, %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "certificates/ca"); err != nil || ki.IsTerminal {
		t.Fatalf("stat of a directory = %+v, %v", ki, err)
	}
	if s.Exists(ctx, "certificates/c") {
		t.Fatal("a prefix that is not a directory exists")
	}
	list, err := s.List(ctx, "certificates/ca", false)
	if want := []string{"certificates/ca/a.test", "certificates/ca/b.test"}; err != nil || !slices.Equal(list, want) {
		t.Fatalf("list = %q, %v; want %q", list, err, want)
	}
	list, err = s.List(ctx, "certificates", true)
	if err != nil || len(list) != 3 {
		t.Fatalf("recursive list = %q, %v", list, err)
	}
	if err := s.Delete(ctx, "certificates/ca/a.test"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, keys[0]) || s.Exists(ctx, keys[1]) || !s.Exists(ctx, keys[2]) {
		t.Fatal("deleting a directory did not delete exactly its keys")
	}
}

// TestStorageSealedAtRest reads the table itself: a private key stored
// through the API is not there in clear.
func TestStorageSealedAtRest(t *testing.T) {
	srv, token := newOperator(t)
	s := newStorage(srv, token)
	ctx := context.Background()
	key := []byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIG0secret0material\n-----END EC PRIVATE KEY-----\n")
	const name = "certificates/ca/a.test/a.test.key"
	if err := s.Store(ctx, name, key); err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	if err := srv.Store.Pool.QueryRow(ctx, `SELECT sealed FROM edge_certs WHERE key = $1`, name).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("PRIVATE KEY")) || bytes.Contains(sealed, []byte("secret0material")) {
		t.Fatalf("the private key is stored in clear: %q", sealed)
	}
	// Bound to its key: a value copied to another row does not open.
	if _, err := srv.Store.Pool.Exec(ctx, `INSERT INTO edge_certs (key, sealed, size) VALUES ('other', $1, 1)`, sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "other"); err == nil {
		t.Fatal("a sealed value copied to another key opened")
	}
	if got, err := s.Load(ctx, name); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("load = %q, %v", got, err)
	}
}

func TestStorageNeedsEdgeToken(t *testing.T) {
	srv, _ := newOperator(t)
	s := NewStorage(srv.URL, srv.Token, &http.Client{}) // a user's token
	if err := s.Store(context.Background(), "k", []byte("v")); err == nil {
		t.Fatal("a user token wrote the edges' certificate storage")
	}
	if _, err := s.TryLock(context.Background(), "a.test"); err == nil {
		t.Fatal("a user token took an issuance lock")
	}
}

func TestLockExclusive(t *testing.T) {
	srv, token := newOperator(t)
	a, b := newStorage(srv, token), newStorage(srv, token)
	b.LockPoll = 50 * time.Millisecond
	ctx := context.Background()
	if err := a.Lock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	if held, err := b.TryLock(ctx, "issue_cert_a.test"); err != nil || held {
		t.Fatalf("second edge's TryLock = %v, %v; want not held", held, err)
	}
	// The same edge's second caller waits too.
	if held, err := a.TryLock(ctx, "issue_cert_a.test"); err != nil || held {
		t.Fatalf("same edge's second TryLock = %v, %v; want not held", held, err)
	}
	if held, err := b.TryLock(ctx, "issue_cert_b.test"); err != nil || !held {
		t.Fatalf("another name: %v, %v; want held", held, err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := b.Lock(short, "issue_cert_a.test"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock on a held name = %v, want to wait until the deadline", err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_a.test") }()
	if err := a.Unlock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lock did not get the name after Unlock")
	}
	if err := b.Unlock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
}

// TestLockExpiry: a holder that stops refreshing (a crashed edge) loses
// the name when its lease ends; one that refreshes keeps it.
func TestLockExpiry(t *testing.T) {
	srv, token := newOperator(t)
	ctx := context.Background()
	dead := newStorage(srv, token)
	dead.LockTTL = time.Second
	if held, err := dead.lockCall(ctx, "lock", "issue_cert_dead.test", "crashed-edge"); err != nil || !held {
		t.Fatalf("lock = %v, %v", held, err)
	}
	live := newStorage(srv, token)
	live.LockTTL = time.Second
	if err := live.Lock(ctx, "issue_cert_live.test"); err != nil {
		t.Fatal(err)
	}
	other := newStorage(srv, token)
	other.LockPoll = 50 * time.Millisecond
	if held, _ := other.TryLock(ctx, "issue_cert_dead.test"); held {
		t.Fatal("a lease taken just now was free")
	}
	start := time.Now()
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := other.Lock(wait, "issue_cert_dead.test"); err != nil {
		t.Fatalf("the lock of a dead holder was not freed by its lease: %v", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("a lease of 1 s ended after %v", d)
	}
	// Three lease lengths on, the refreshed lock is still held.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if held, err := other.TryLock(ctx, "issue_cert_live.test"); err != nil || held {
			t.Fatalf("a refreshed lock was taken by another: %v, %v", held, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := live.Unlock(ctx, "issue_cert_live.test"); err != nil {
		t.Fatal(err)
	}
}
