package registry_test

import (
	"testing"

	"github.com/zeitwork/zeitwork/internal/registry"
	"github.com/zeitwork/zeitwork/internal/registry/registrytest"
)

func newFS(t *testing.T, dir string) registry.Storage {
	t.Helper()
	st, err := registry.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestConformanceFilesystem: the OCI conformance suite passes on the
// default storage, a directory.
func TestConformanceFilesystem(t *testing.T) {
	t.Parallel()
	registrytest.RunConformance(t, newFS(t, t.TempDir()))
}

// TestSharedFilesystem: two registries on one directory (a shared volume)
// serve each other's pushes.
func TestSharedFilesystem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	registrytest.SharedStorage(t, newFS(t, dir), newFS(t, dir))
}

// TestStorageFilesystem: the directory storage keeps the contract the
// registry relies on, and GC works on it.
func TestStorageFilesystem(t *testing.T) {
	t.Parallel()
	registrytest.Contract(t, newFS(t, t.TempDir()))
	registrytest.CollectGarbage(t, newFS(t, t.TempDir()))
}

// TestSharedStorageKinds: a directory is one operator's own, so each
// replica collects it; any other storage is shared, and one replica at a
// time collects it (internal/operator/registrygc.go).
func TestSharedStorageKinds(t *testing.T) {
	if registry.Shared(newFS(t, t.TempDir())) {
		t.Error("a directory counts as shared")
	}
	if !registry.Shared(struct{ registry.Storage }{newFS(t, t.TempDir())}) {
		t.Error("a storage other than a directory counts as one replica's own")
	}
}
