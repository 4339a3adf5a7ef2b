package testbed

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/pglocal"
)

// Settings of the bed: short, but of the kind a real installation uses.
const (
	appsDomain = "apps.zw.test"
	heartbeat  = 2 * time.Second // node -> operator
	// nodeDownAfter is when the operator marks a silent node down: six
	// missed heartbeats, so that a node starved by the other test packages
	// CI runs beside this one does not flap (at 6 s one did, and its
	// instances moved to its region's other node).
	nodeDownAfter = 12 * time.Second
	dnsTTL        = 5           // seconds, A/AAAA answers
	dnsHealth     = time.Second // DNS server -> load balancers, each
	dnsTimeout    = time.Second // one DNS health check
	lbHealth      = 500 * time.Millisecond
	nodeMemoryMiB = 2048 // capacity each node offers
)

// bootDeadline bounds boots to a healthy app: the nodes' start timeout.
// TCG on two cores shared with other tests is slow; on a machine busier
// still, ZEITWORK_TESTBED_BOOT_TIMEOUT (e.g. 8m) gives them longer.
var bootDeadline = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("ZEITWORK_TESTBED_BOOT_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Minute
}()

// regionSpec places a region; distances decide where a dead region's
// clients go (ap's nearest is eu).
type regionSpec struct {
	name     string
	lat, lon float64
}

var regionSpecs = []regionSpec{{"eu", 50.1, 8.7}, {"us", 39.0, -77.5}, {"ap", 1.35, 103.8}}

// region is one region's hosts and its clients' namespace.
type region struct {
	name   string
	idx    int
	nodes  []*host
	edge   *host
	lb     *host
	dns    *host
	client *host
	// clients is the region's client subnet, mapped to it by GeoDNS.
	clients netip.Prefix
}

func (r *region) hosts() []*host { return append(append([]*host{}, r.nodes...), r.edge, r.lb, r.dns) }

// bed is the running test bed.
type bed struct {
	t       *testing.T
	dir     string
	bin     string
	net     *internet
	op      *host
	opURL   string
	admin   string // installation admin token
	token   string // the first user's API token
	regions []*region
	procs   map[string]*proc
	// nodeIDs maps a node host's name to its ID at the operator.
	nodeIDs map[string]string
}

// startBed brings up the whole bed: PostgreSQL, the operator, then every
// region's nodes, edge, load balancer and DNS server, and waits until all
// nodes are ready and every DNS server answers.
func startBed(t *testing.T) *bed {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the test bed needs root (network namespaces, taps); run it as root as CI does")
	}
	b := &bed{t: t, dir: stateDir(t), bin: binaries(t), procs: map[string]*proc{}, nodeIDs: map[string]string{}}
	b.net = newInternet(t)
	b.layout()
	b.startOperator()
	for _, r := range b.regions {
		for i, n := range r.nodes {
			b.startNode(r, i, n)
		}
	}
	for _, r := range b.regions {
		b.startEdge(r)
		b.startLB(r)
		b.startDNS(r)
	}
	b.waitNodes()
	return b
}

// layout numbers the hosts: the operator .2, region i's hosts from
// .10*(i+1), its clients in 10.247.B.(64+8i)/29.
func (b *bed) layout() {
	b.op = b.net.addHost("op", b.net.addr(2))
	for i, s := range regionSpecs {
		base := byte(10 * (i + 1))
		r := &region{name: s.name, idx: i, clients: b.net.prefix(byte(64+8*i), 29)}
		for j := 0; j < 2; j++ {
			r.nodes = append(r.nodes, b.net.addHost(fmt.Sprintf("%s-node%d", s.name, j), b.net.addr(base+byte(j))))
		}
		r.edge = b.net.addHost(s.name+"-edge", b.net.addr(base+2))
		r.lb = b.net.addHost(s.name+"-lb", b.net.addr(base+3))
		r.dns = b.net.addHost(s.name+"-dns", b.net.addr(base+4))
		r.client = b.net.addHost(s.name+"-client", r.clients.Addr().Next().Next())
		b.regions = append(b.regions, r)
	}
}

func (b *bed) startOperator() {
	t := b.t
	pg, err := pglocal.Start(context.Background(), filepath.Join(b.dir, "postgres"), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	b.admin = randomToken(t)
	env := []string{"ZEITWORK_SEAL_KEY=" + randomToken(t), "ZEITWORK_ADMIN_TOKEN=" + b.admin}
	listen := netip.AddrPortFrom(b.op.ip, 7070).String()
	b.opURL = "http://" + listen
	b.procs["op"] = startProc(t, b.dir, b.op, env, b.bin, "operator",
		"--listen", listen, "--database-url", pg.URL, "--apps-domain", appsDomain, "--edge-url", "http://{host}",
		"--state-dir", filepath.Join(b.dir, "op"), "--builds=false", "--bootstrap", "admin@zw.test",
		"--node-down-after", nodeDownAfter.String(), "--cpu-overcommit", "16")
	eventually(b.t, "the operator to print the first user's token", 60*time.Second, func() (bool, string) {
		if b.procs["op"].exited() {
			t.Fatalf("operator exited: %s", b.procs["op"].tail())
		}
		out, _ := os.ReadFile(b.procs["op"].out)
		for _, line := range strings.Split(string(out), "\n") {
			if _, tok, ok := strings.Cut(line, "API token for admin@zw.test: "); ok {
				b.token = strings.TrimSpace(tok)
				return true, ""
			}
		}
		return false, "no token yet"
	})
	eventually(b.t, "the operator to answer", 60*time.Second, func() (bool, string) {
		code, err := b.call("GET", "/v1/nodes", b.admin, nil, nil)
		return code == 200, fmt.Sprint(code, err)
	})
}

// joinToken makes a single-use join token for role.
func (b *bed) joinToken(role string) string {
	var jt api.JoinToken
	if code, err := b.call("POST", "/v1/nodes/join-tokens", b.admin, api.CreateJoinTokenRequest{Role: role, TTLSeconds: 600}, &jt); code != 201 {
		b.t.Fatalf("join token for a %s: %d %v", role, code, err)
	}
	return jt.Token
}

func (b *bed) startNode(r *region, i int, h *host) {
	n := r.idx*2 + i // 0..5
	vmNet := fmt.Sprintf("zwv%s%d", b.net.tag, n)
	// Whatever happens to the node process, its VMs (own sessions, so
	// that they outlive an agent restart) and their network go, after
	// the process has stopped (cleanups run last first).
	stateDir, nsPath := filepath.Join(b.dir, h.name), "/run/netns/"+vmNet
	b.t.Cleanup(func() { killVMs(b.t, filepath.Join(stateDir, "vms"), nsPath) })
	b.procs[h.name] = startProc(b.t, b.dir, h, []string{"ZEITWORK_JOIN_TOKEN=" + b.joinToken("node")}, b.bin, "node",
		"--operator", b.opURL, "--region", r.name, "--state-dir", filepath.Join(b.dir, h.name),
		"--hostname", h.name, "--tunnel-listen", netip.AddrPortFrom(h.ip, 7443).String(), "--net-name", vmNet,
		// The VM network lives inside the node's namespace: its routes
		// and firewall are the node's own, as on a machine of its own.
		"--subnet", fmt.Sprintf("10.248.%d.%d/27", b.net.b, 32*n), "--transit", fmt.Sprintf("10.249.%d.%d/30", b.net.b, 4*n),
		"--accel", "tcg", "--vcpus", "2", "--memory-mib", fmt.Sprint(nodeMemoryMiB), "--image-cache-mib", "1024",
		"--heartbeat-interval", heartbeat.String(),
		// Cold boots: six template builds at start would add six boots
		// to the nine; templates have their own test (internal/platform).
		"--vm-templates=false",
		// Nine TCG boots at once on two shared cores take long.
		"--start-timeout", bootDeadline.String())
}

// waitNodes waits until all six nodes are ready and records their IDs.
func (b *bed) waitNodes() {
	eventually(b.t, "six ready nodes", 120*time.Second, func() (bool, string) {
		for name, p := range b.procs {
			if p.exited() {
				b.t.Fatalf("%s exited: %s", name, p.tail())
			}
		}
		nodes := b.nodes(b.t)
		ready := 0
		for _, n := range nodes {
			if n.State == "ready" {
				ready++
			}
			b.nodeIDs[n.Hostname] = n.ID
		}
		return ready == 6, fmt.Sprintf("%d of %d ready", ready, len(nodes))
	})
}

func (b *bed) nodes(t *testing.T) []api.Node {
	t.Helper()
	var nodes []api.Node
	if code, err := b.call("GET", "/v1/nodes", b.admin, nil, &nodes); code != 200 {
		t.Fatalf("list nodes: %d %v", code, err)
	}
	return nodes
}

// stateDir is the bed's directory: every host's state and log. With
// ZEITWORK_TESTBED_KEEP=1 a failed test leaves it behind to be read.
func stateDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "zwtestbed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("ZEITWORK_TESTBED_KEEP") == "1" {
			t.Logf("the bed's state and logs are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

func randomToken(t *testing.T) string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	if err := poll(what, timeout, cond); err != nil {
		t.Fatal(err)
	}
}

// poll polls cond every 100 ms until it holds, or says what it waited
// for when the deadline passes.
func poll(what string, timeout time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return nil
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
}

func mustJSON(v any) string {
	out, _ := json.Marshal(v)
	return string(out)
}
