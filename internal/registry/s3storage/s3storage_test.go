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
	server   *weed
	prefixes atomic.Int64
)

// testBucket holds every test's objects, each test under a prefix of its
// own: SeaweedFS gives each bucket volumes of its own, and a bucket per
// test would run the small test server out of them.
const testBucket = "zeitwork-test"

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
	code := m.Run()
	if code != 0 { // what the store said, for failures it answered with 500
		if b, err := os.ReadFile(server.log); err == nil {
			fmt.Fprintf(os.Stderr, "seaweedfs log (last 8 KiB):\n%s\n", b[max(0, len(b)-8<<10):])
		}
	}
	return code
}

func newStorage(ctx context.Context, endpoint, prefix string) (*s3storage.Storage, error) {
	return s3storage.New(ctx, s3storage.Config{
		Endpoint: endpoint, Bucket: testBucket, Prefix: prefix, Insecure: true,
		AccessKey: weedAccessKey, SecretKey: weedSecretKey,
	})
}

// prefix returns a new object name prefix for one test.
func prefix() string {
	return fmt.Sprintf("test-%d/registry/", prefixes.Add(1))
}

func open(t *testing.T, name string) *s3storage.Storage {
	t.Helper()
	st, err := newStorage(context.Background(), server.endpoint, name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestConformanceS3: the OCI conformance suite passes on S3 storage, on a
// real SeaweedFS.
func TestConformanceS3(t *testing.T) {
	t.Parallel()
	registrytest.RunConformance(t, open(t, prefix()))
}

// TestSharedS3: two registries with their own clients of one bucket (two
// operator replicas) serve each other's pushes.
func TestSharedS3(t *testing.T) {
	t.Parallel()
	p := prefix()
	registrytest.SharedStorage(t, open(t, p), open(t, p))
}

// TestStorageS3: S3 storage keeps the contract the registry relies on,
// and GC works on it.
func TestStorageS3(t *testing.T) {
	t.Parallel()
	registrytest.Contract(t, open(t, prefix()))
	registrytest.CollectGarbage(t, open(t, prefix()))
}
