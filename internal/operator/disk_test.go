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

// TestImageDiskSizeCounts: once a node reports the size of the root disk
// it built from an image, the scheduler counts that image's instances at
// it instead of the default (1024 MiB): two instances of a 3000 MiB disk
// leave a 6 GiB node (2 GiB reserved) no room for a third instance.
func TestImageDiskSizeCounts(t *testing.T) {
	h := start(t)
	var resp api.RegisterNodeResponse
	if code := h.call("POST", "/v1/nodes/register", h.srv.JoinToken(t, "node"), api.RegisterNodeRequest{
		Region: "eu", Hostname: "10.0.0.1:7443", TunnelAddr: "10.0.0.1:7443", Driver: "fake", Accel: "tcg", DiskGiB: 6,
		CSR: testCSR(t),
	}, &resp); code != 200 {
		t.Fatalf("register: %d", code)
	}
	n := &fakeNode{h: h, id: resp.NodeID, token: resp.NodeToken}
	web := h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 2})
	h.eventually("placement", func() bool { return len(n.runningOf(web.ID)) == 2 })
	for _, in := range n.runningOf(web.ID) {
		rep := api.InstanceReport{State: api.InstanceStarting, Reason: "booting", DiskMiB: 3000}
		if code := h.call("POST", "/v1/nodes/"+n.id+"/instances/"+in.ID, n.token, rep, nil); code != 204 {
			t.Fatalf("report: %d", code)
		}
	}
	h.deploy(api.CreateProjectRequest{Name: "api", MinInstancesPerRegion: 1})
	var st api.Status
	h.eventually("the disk named as the reason", func() bool {
		st = api.Status{}
		h.call("GET", "/v1/status", h.token, nil, &st)
		for _, u := range st.UnderServed {
			if u.Project == "api" && strings.HasSuffix(u.Message, "; needs 1024 MiB of disk, largest free 0 MiB after the 2048 MiB reserve)") {
				return true
			}
		}
		return false
	})
	if got := len(running(n.desired())); got != 2 {
		t.Fatalf("%d instances placed, want web's 2 only", got)
	}
	rep := api.InstanceReport{State: api.InstanceStarting, DiskMiB: -1}
	if code := h.call("POST", "/v1/nodes/"+n.id+"/instances/"+n.runningOf(web.ID)[0].ID, n.token, rep, nil); code != 400 {
		t.Fatalf("negative disk size: %d", code)
	}
}
