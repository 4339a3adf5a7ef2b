package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/pki"
)

// registerNode enrols a node as an agent would, with a capacity, using a
// join token made through the CLI (the caller is logged in as an admin).
func registerNode(t *testing.T, url, host string) api.RegisterNodeResponse {
	t.Helper()
	var jt api.JoinToken
	if err := json.Unmarshal([]byte(mustRun(t, "nodes", "join-token", "--json")), &jt); err != nil {
		t.Fatal(err)
	}
	key, err := pki.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(api.RegisterNodeRequest{Region: "eu-west", Hostname: host, TunnelAddr: "10.0.0.1:7443",
		Driver: "qemu", Accel: "tcg", VCPUs: 8, MemoryMiB: 4096, DiskGiB: 100, CSR: string(csr)})
	req, _ := http.NewRequest("POST", url+"/v1/nodes/register", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+jt.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("register: %v %v", err, resp)
	}
	defer resp.Body.Close()
	var out api.RegisterNodeResponse
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func TestNodesListDrainAndRegions(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	n := registerNode(t, url, "fra-1")

	b, _ := json.Marshal(api.HeartbeatRequest{DiskFreeMiB: new(51200)})
	req, _ := http.NewRequest("POST", url+"/v1/nodes/"+n.NodeID+"/heartbeat", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+n.NodeToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("heartbeat: %v %v", err, resp)
	}
	out := mustRun(t, "nodes", "list")
	for _, want := range []string{"REGION", "VCPUS", "MEMORY", "DISK FREE", "51200 MiB", "eu-west", "fra-1", "ready", "0/8", "0/4096 MiB", "tcg (software emulation)"} {
		if !strings.Contains(out, want) {
			t.Errorf("nodes list lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, "nodes", "drain", "fra-1")
	if !strings.Contains(out, "is drained") || !strings.Contains(out, n.NodeID[:8]) {
		t.Errorf("drain: %s", out)
	}
	out = mustRun(t, "nodes", "list", "--json")
	var nodes []api.Node
	if err := json.Unmarshal([]byte(out), &nodes); err != nil || len(nodes) != 1 || !nodes[0].Drained || nodes[0].Capacity.DiskGiB != 100 {
		t.Errorf("nodes list --json: %v %s", err, out)
	}
	if out := mustRun(t, "nodes", "list"); !strings.Contains(out, "ready, drained") {
		t.Errorf("a drained node is not shown drained:\n%s", out)
	}
	mustRun(t, "nodes", "undrain", n.NodeID[:8])
	if _, err := run(t, "nodes", "drain", "nope"); err == nil || !strings.Contains(err.Error(), "zeitwork nodes list") {
		t.Errorf("drain of an unknown node: %v", err)
	}

	mustRun(t, "projects", "create", "web")
	if out := mustRun(t, "projects", "update", "web", "--regions", "us-east,eu-west"); !strings.Contains(out, "runs in regions eu-west, us-east") ||
		!strings.Contains(out, "no node is in region us-east") || !strings.Contains(out, "Known regions: eu-west") {
		t.Errorf("update --regions with one no node is in does not warn (with the known ones): %s", out)
	}
	if out := mustRun(t, "projects", "update", "web", "--regions", "eu-west"); strings.Contains(out, "Warning") {
		t.Errorf("update --regions of a region with a node warns: %s", out)
	}
	if out := mustRun(t, "projects", "update", "web", "--regions", "all"); !strings.Contains(out, "runs in all regions") {
		t.Errorf("update --regions all: %s", out)
	}
}

// `nodes edges` lists enrolled edges with their regions, and points out
// one no node is in.
func TestNodesEdgesShowsRegions(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	registerNode(t, url, "fra-1") // region eu-west
	for _, e := range []struct{ host, region string }{{"edge-good", "eu-west"}, {"edge-typo", "eu-wset"}, {"edge-none", ""}} {
		var jt api.JoinToken
		if err := json.Unmarshal([]byte(mustRun(t, "nodes", "join-token", "--role", "edge", "--json")), &jt); err != nil {
			t.Fatal(err)
		}
		if _, err := edge.Enrol(context.Background(), url, jt.Token, t.TempDir(), e.host, e.region); err != nil {
			t.Fatal(err)
		}
	}
	out := mustRun(t, "nodes", "edges")
	for _, want := range []string{"REGION", "DIRECT", "edge-good", "eu-west", "edge-typo", "eu-wset (no node)", "edge-none",
		"No node is in the region of edge-typo"} {
		if !strings.Contains(out, want) {
			t.Errorf("nodes edges lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "eu-west (no node)") {
		t.Errorf("known region flagged:\n%s", out)
	}
	var edges []api.Edge
	if err := json.Unmarshal([]byte(mustRun(t, "nodes", "edges", "--json")), &edges); err != nil || len(edges) != 3 {
		t.Fatalf("nodes edges --json: %v %+v", err, edges)
	}
	if !edges[0].RegionKnown || edges[1].RegionKnown || edges[1].Region != "eu-wset" || edges[2].Region != "" {
		t.Errorf("nodes edges --json: %+v", edges)
	}
}

// `nodes edges remove` retires an edge (by hostname, table and JSON); the
// listing shows it removed; an unknown edge gets an error that says where
// to look.
func TestNodesEdgesRemove(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	var ids []string
	for _, host := range []string{"edge-old", "edge-other"} {
		var jt api.JoinToken
		if err := json.Unmarshal([]byte(mustRun(t, "nodes", "join-token", "--role", "edge", "--json")), &jt); err != nil {
			t.Fatal(err)
		}
		id, err := edge.Enrol(context.Background(), url, jt.Token, t.TempDir(), host, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.ID)
	}
	if out, err := run(t, "nodes", "edges", "remove", "no-such-edge"); err == nil || !strings.Contains(out+err.Error(), "nodes edges") {
		t.Errorf("remove unknown edge: %v %s", err, out)
	}
	if _, err := run(t, "nodes", "edges", "remove"); err == nil {
		t.Error("remove without an edge")
	}
	out := mustRun(t, "nodes", "edges", "remove", "edge-old")
	for _, want := range []string{"REMOVED", ids[0], "edge-old", "join-token --role edge"} {
		if !strings.Contains(out, want) {
			t.Errorf("remove table lacks %q:\n%s", want, out)
		}
	}
	var removed api.RemovedEdge
	if err := json.Unmarshal([]byte(mustRun(t, "nodes", "edges", "remove", ids[0][:8], "--json")), &removed); err != nil ||
		removed.ID != ids[0] || removed.RemovedAt.IsZero() {
		t.Errorf("remove --json: %+v %v", removed, err)
	}
	var edges []api.Edge
	if err := json.Unmarshal([]byte(mustRun(t, "nodes", "edges", "--json")), &edges); err != nil || len(edges) != 2 {
		t.Fatalf("nodes edges --json: %v %+v", err, edges)
	}
	for _, e := range edges {
		if (e.ID == ids[0]) != (e.RemovedAt != nil) {
			t.Errorf("listed %s (%s) removed at %v", e.Hostname, e.ID, e.RemovedAt)
		}
	}
	out = mustRun(t, "nodes", "edges")
	agos := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		for _, host := range []string{"edge-old", "edge-other"} {
			if strings.Contains(line, host) {
				agos[host] = strings.Count(line, "ago")
			}
		}
	}
	if !strings.Contains(out, "REMOVED") || agos["edge-old"] != agos["edge-other"]+1 {
		t.Errorf("nodes edges does not show the removal (only):\n%s", out)
	}
}
