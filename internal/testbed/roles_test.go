package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// lbAddrs are every load balancer's address: each edge accepts PROXY
// headers from all of them, since a load balancer spills to other
// regions' edges when its own are down.
func (b *bed) lbAddrs() []string {
	var out []string
	for _, r := range b.regions {
		out = append(out, r.lb.ip.String())
	}
	return out
}

func (b *bed) startEdge(r *region) {
	var order []string
	for _, o := range b.byDistance(r)[1:] {
		order = append(order, o.name)
	}
	args := []string{"edge", "--operator", b.opURL, "--listen", netip.AddrPortFrom(r.edge.ip, 80).String(),
		"--state-dir", filepath.Join(b.dir, r.edge.name), "--access-log", b.accessLog(r),
		"--region", r.name, "--region-order", strings.Join(order, ",")}
	for _, lb := range b.lbAddrs() {
		args = append(args, "--trusted-proxy", lb)
	}
	b.procs[r.edge.name] = startProc(b.t, b.dir, r.edge, []string{"ZEITWORK_JOIN_TOKEN=" + b.joinToken("edge")}, b.bin, args...)
}

func (b *bed) accessLog(r *region) string { return filepath.Join(b.dir, r.edge.name+"-access.log") }

// byDistance lists the regions nearest r first (r itself first).
func (b *bed) byDistance(r *region) []*region {
	out := []*region{r}
	for _, o := range b.regions {
		if o != r {
			out = append(out, o)
		}
	}
	// Three regions: the second is the nearer of the other two.
	if len(out) == 3 && distance(regionSpecs[r.idx], regionSpecs[out[2].idx]) < distance(regionSpecs[r.idx], regionSpecs[out[1].idx]) {
		out[1], out[2] = out[2], out[1]
	}
	return out
}

func (b *bed) startLB(r *region) {
	type lbRegion struct {
		Name  string   `json:"name"`
		Edges []string `json:"edges"`
	}
	var regions []lbRegion
	for _, o := range b.byDistance(r) {
		regions = append(regions, lbRegion{o.name, []string{o.edge.ip.String()}})
	}
	cfg := map[string]any{
		"region":          r.name,
		"listeners":       []map[string]any{{"listen": netip.AddrPortFrom(r.lb.ip, 80).String(), "edge_port": 80}},
		"regions":         regions,
		"connect_timeout": "1s",
		"drain_timeout":   "1s",
		"health":          map[string]any{"interval": lbHealth.String(), "timeout": "500ms", "rise": 1, "fall": 2},
	}
	path := b.writeJSON(r.lb.name+".json", cfg)
	b.procs[r.lb.name] = startProc(b.t, b.dir, r.lb, nil, b.bin, "lb", "--config", path)
}

func (b *bed) startDNS(r *region) {
	type dnsRegion struct {
		Name          string       `json:"name"`
		Latitude      float64      `json:"latitude"`
		Longitude     float64      `json:"longitude"`
		LoadBalancers []netip.Addr `json:"load_balancers"`
	}
	var regions []dnsRegion
	networks := map[string]string{}
	var nsAddrs []netip.Addr
	for _, o := range b.regions {
		s := regionSpecs[o.idx]
		regions = append(regions, dnsRegion{o.name, s.lat, s.lon, []netip.Addr{o.lb.ip}})
		networks[o.clients.String()] = o.name
		nsAddrs = append(nsAddrs, o.dns.ip)
	}
	cfg := map[string]any{
		"zone":        appsDomain,
		"nameservers": []map[string]any{{"name": "ns." + appsDomain, "addrs": nsAddrs}},
		"ttl":         dnsTTL,
		"regions":     regions,
		"networks":    networks,
		"health":      map[string]any{"port": 80, "interval": dnsHealth.String(), "timeout": dnsTimeout.String()},
	}
	path := b.writeJSON(r.dns.name+".json", cfg)
	b.procs[r.dns.name] = startProc(b.t, b.dir, r.dns, nil, b.bin, "dns", "--config", path,
		"--listen", netip.AddrPortFrom(r.dns.ip, 53).String())
}

func (b *bed) writeJSON(name string, v any) string {
	path := filepath.Join(b.dir, name)
	out, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// call sends a JSON request to the operator's API from the test process
// (the administrator's laptop on the internet).
func (b *bed) call(method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		out, _ := json.Marshal(body)
		rd = bytes.NewReader(out)
	}
	req, _ := http.NewRequest(method, b.opURL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s", bytes.TrimSpace(msg))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(msg, out)
	}
	return resp.StatusCode, nil
}

// killVMs kills the QEMU processes a node started (they run in sessions
// of their own, so that they survive an agent restart), waits until they
// are gone and removes the node's VM network namespace; its taps go with
// it. The rest of the VM network lives in the node's namespace.
func killVMs(t *testing.T, vmsDir, netnsPath string) {
	entries, _ := os.ReadDir(vmsDir)
	var pids []int
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(vmsDir, e.Name(), "pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && isQEMU(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			pids = append(pids, pid)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for isQEMU(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The agent removes a VM's cgroup when it destroys the VM; killed
	// here, the VMs leave theirs (the agents run in this test's cgroup,
	// so theirs resolve to the same place as ours).
	if cg, err := jail.NewCgroups("zeitwork-vms"); err == nil {
		for _, e := range entries {
			if err := cg.Remove(context.Background(), "vm-"+e.Name()); err != nil {
				t.Errorf("remove the cgroup of vm %s: %v", e.Name(), err)
			}
		}
	}
	if _, err := os.Stat(netnsPath); err == nil {
		syscall.Unmount(netnsPath, syscall.MNT_DETACH)
		if err := os.Remove(netnsPath); err != nil {
			t.Errorf("remove vm namespace: %v", err)
		}
	}
}

// isQEMU reports whether pid is a live (not zombie) QEMU: a pid file may
// outlive its process, and the pid be reused.
func isQEMU(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || !strings.HasPrefix(string(comm), "qemu-system") {
		return false
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}
