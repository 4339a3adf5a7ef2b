package node

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestHeartbeatReportsFreeDisk: the heartbeat carries the free space of
// the state directory's file system, which the scheduler places root
// disks by; a directory it cannot read reports nothing (not 0, which
// would read as a full disk).
func TestHeartbeatReportsFreeDisk(t *testing.T) {
	dir := t.TempDir()
	var got api.HeartbeatRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/nodes/n1/heartbeat" {
			http.NotFound(w, r)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := &client{base: srv.URL, http: srv.Client(), token: "t", nodeID: "n1"}
	if err := c.heartbeat(context.Background(), heartbeatRequest(dir)); err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	total := int(st.Blocks * uint64(st.Bsize) >> 20)
	if got.DiskFreeMiB == nil || *got.DiskFreeMiB <= 0 || *got.DiskFreeMiB > total {
		t.Fatalf("disk_free_mib %v, want between 1 and the file system's %d MiB", got.DiskFreeMiB, total)
	}
	if r := heartbeatRequest(filepath.Join(dir, "missing")); r.DiskFreeMiB != nil {
		t.Fatalf("a missing directory reported %d MiB free", *r.DiskFreeMiB)
	}
}
