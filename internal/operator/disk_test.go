package operator_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// heartbeatDisk heartbeats with free MiB of disk, as node agents do.
func (n *fakeNode) heartbeatDisk(free int) {
	n.h.t.Helper()
	if code := n.h.call("POST", "/v1/nodes/"+n.id+"/heartbeat", n.token, api.HeartbeatRequest{DiskFreeMiB: &free}, nil); code != http.StatusNoContent {
		n.h.t.Fatalf("heartbeat: %d", code)
	}
}

// TestDiskFullNodeGetsNoInstance: a node that reports less free disk than
// a root disk and the reserve (operator defaults: 1024 and 2048 MiB) gets
// no instance, although it has the memory; when no node has room, the
// status says it is the disk.
func TestDiskFullNodeGetsNoInstance(t *testing.T) {
	h := start(t)
	full := h.register("eu", "10.0.0.1:7443")
	roomy := h.register("eu", "10.0.0.2:7443")
	full.heartbeatDisk(2048 + 1000)
	roomy.heartbeatDisk(100 << 10)

	d := h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 2})
	h.eventually("placement", func() bool { return len(roomy.runningOf(d.ID)) == 2 })
	if n := len(full.runningOf(d.ID)); n != 0 {
		t.Fatalf("the node with a full disk got %d instances", n)
	}
	var nodes []api.Node
	h.call("GET", "/v1/nodes", h.token, nil, &nodes)
	for _, n := range nodes {
		if n.ID == full.id && (n.DiskFreeMiB == nil || *n.DiskFreeMiB != 3048) {
			t.Errorf("GET /v1/nodes: disk_free_mib %v, want 3048", n.DiskFreeMiB)
		}
	}

	// The instances started (their disks are in the next report), and the
	// roomy node fills up too: nowhere to go, and the reason says why.
	roomy.healthyAll()
	roomy.heartbeatDisk(2048 + 500)
	h.deploy(api.CreateProjectRequest{Name: "api", MinInstancesPerRegion: 1})
	var st api.Status
	h.eventually("the disk named as the reason", func() bool {
		st = api.Status{}
		h.call("GET", "/v1/status", h.token, nil, &st)
		for _, u := range st.UnderServed {
			if u.Project == "api" && strings.HasPrefix(u.Message,
				"region eu: 0 of 1 instances: not enough capacity (") && strings.HasSuffix(u.Message,
				"; needs 1024 MiB of disk, largest free 1000 MiB after the 2048 MiB reserve)") {
				return true
			}
		}
		return false
	})
	if n := len(running(full.desired())) + len(running(roomy.desired())); n != 2 {
		t.Fatalf("%d instances placed, want web's 2 only", n)
	}

	var e api.Error
	if code := h.call("POST", "/v1/nodes/"+full.id+"/heartbeat", full.token, map[string]any{"disk_free_mib": -1}, &e); code != 400 || e.Hint == "" {
		t.Fatalf("negative free disk: %d %+v", code, e)
	}
	nodes = nil
	h.call("GET", "/v1/nodes", h.token, nil, &nodes)
	for _, n := range nodes {
		if n.ID == full.id && (n.DiskFreeMiB == nil || *n.DiskFreeMiB != 3048) {
			t.Errorf("a refused heartbeat changed disk_free_mib to %v", n.DiskFreeMiB)
		}
	}
}
