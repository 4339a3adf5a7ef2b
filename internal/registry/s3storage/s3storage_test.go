package s3storage_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/zeitwork/zeitwork/internal/registry/registrytest"
	"github.com/zeitwork/zeitwork/internal/registry/s3storage"
)

var (
	server  *weed
	buckets atomic.Int64
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zeitwork-weed-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3storage:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	server, err = startWeed(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3storage: start seaweedfs:", err)
		return 1
	}
	defer server.stop()
	return m.Run()
}

func newStorage(ctx context.Context, bucket string) (*s3storage.Storage, error) {
	return s3storage.New(ctx, s3storage.Config{
		Endpoint: server.endpoint, Bucket: bucket, Prefix: "registry/", Insecure: true,
		AccessKey: weedAccessKey, SecretKey: weedSecretKey,
	})
}

// bucket returns the name of a new bucket for one test.
func bucket() string {
	return fmt.Sprintf("zeitwork-test-%d", buckets.Add(1))
}

func open(t *testing.T, name string) *s3storage.Storage {
	t.Helper()
	st, err := newStorage(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestConformanceS3: the OCI conformance suite passes on S3 storage, on a
// real SeaweedFS.
func TestConformanceS3(t *testing.T) {
	t.Parallel()
	registrytest.RunConformance(t, open(t, bucket()))
}

// TestSharedS3: two registries with their own clients of one bucket (two
// operator replicas) serve each other's pushes.
func TestSharedS3(t *testing.T) {
	t.Parallel()
	name := bucket()
	registrytest.SharedStorage(t, open(t, name), open(t, name))
}

// TestStorageS3: S3 storage keeps the contract the registry relies on,
// and GC works on it.
func TestStorageS3(t *testing.T) {
	t.Parallel()
	registrytest.Contract(t, open(t, bucket()))
	registrytest.CollectGarbage(t, open(t, bucket()))
}
