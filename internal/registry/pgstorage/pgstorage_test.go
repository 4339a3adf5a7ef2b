package pgstorage_test

import (
	"context"
	"testing"

	"github.com/zeitwork/zeitwork/internal/registry/pgstorage"
	"github.com/zeitwork/zeitwork/internal/registry/registrytest"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestConformancePostgres: the OCI conformance suite passes on
// PostgreSQL storage.
func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	registrytest.RunConformance(t, pgstorage.New(storetest.New(t)))
}

// TestSharedPostgres: two registries with their own connection pools to
// one database (two operator replicas) serve each other's pushes.
func TestSharedPostgres(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t)
	a, b := open(t, url), open(t, url)
	registrytest.SharedStorage(t, pgstorage.New(a), pgstorage.New(b))
}

func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestStoragePostgres: PostgreSQL storage keeps the contract the registry
// relies on (reads that seek across chunks among it), and GC works on it,
// including objects a crashed write left unnamed.
func TestStoragePostgres(t *testing.T) {
	t.Parallel()
	registrytest.Contract(t, pgstorage.New(storetest.New(t)))
	s := storetest.New(t)
	registrytest.CollectGarbage(t, pgstorage.New(s))

	ctx := context.Background()
	if _, err := s.CreateRegistryObject(ctx, pgstorage.ChunkSize); err != nil { // as a crash leaves it
		t.Fatal(err)
	}
	if n, err := pgstorage.New(s).CleanUp(ctx, 0); err != nil || n != 1 {
		t.Fatalf("clean up: %d %v, want the one pending object", n, err)
	}
}
