package operator_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/registry"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// gcStorage is one replica's view of a storage the replicas share: its
// GC's listing of the blobs reports the replica on entered and waits for
// release, so that a collection stays in flight while the test looks.
type gcStorage struct {
	registry.Storage
	replica string
	entered chan<- string
	release <-chan struct{}
}

func (s *gcStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if prefix == "blobs/" {
		select {
		case s.entered <- s.replica:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Storage.List(ctx, prefix)
}

// messages counts the log messages of one replica.
type messages struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *messages) Enabled(context.Context, slog.Level) bool { return true }
func (m *messages) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n[r.Message]++
	return nil
}
func (m *messages) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m *messages) WithGroup(string) slog.Handler      { return m }
func (m *messages) count(msg string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[msg]
}

// TestRegistryGCOneReplicaAtATime: two replicas on one database sharing a
// registry storage. While one collects it, the other skips its passes
// instead of collecting the same blobs at once; once the first is done,
// the other collects again.
func TestRegistryGCOneReplicaAtATime(t *testing.T) {
	dbURL := storetest.URL(t)
	shared, err := registry.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan string, 16), make(chan struct{})
	logs := map[string]*messages{}
	replica := func(name string) func(*operator.Config) {
		logs[name] = &messages{n: map[string]int{}}
		return func(c *operator.Config) {
			c.RegistryStorage = &gcStorage{Storage: shared, replica: name, entered: entered, release: release}
			c.RegistryGCInterval = 20 * time.Millisecond
			c.Log = slog.New(logs[name])
		}
	}
	operatortest.StartOn(t, dbURL, replica("a"))
	operatortest.StartOn(t, dbURL, replica("b"))

	var first string
	select {
	case first = <-entered:
	case <-time.After(15 * time.Second):
		t.Fatal("no replica collected the registry")
	}
	other := map[string]string{"a": "b", "b": "a"}[first]
	const skipped = "registry gc skipped: another replica is collecting the shared storage"
	deadline := time.Now().Add(15 * time.Second)
	for logs[other].count(skipped) < 3 {
		select {
		case r := <-entered:
			t.Fatalf("replica %s collected while replica %s was collecting", r, first)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s neither collected nor skipped", other)
		}
	}

	close(release)
	deadline = time.Now().Add(15 * time.Second)
	for r := ""; r != other; {
		select {
		case r = <-entered:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("replica %s never collected after %s was done", other, first)
		}
	}
}
