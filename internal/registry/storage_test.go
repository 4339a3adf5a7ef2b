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
