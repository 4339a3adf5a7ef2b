package testbed

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
)

// TestTestBed runs issue 8's end-to-end checks on one bed, in order:
// deploy 9 instances over 3 regions and reach them through GeoDNS, load
// balancer, edge, node tunnel and VM; cut a node under load; drain a node
// under load; cut a whole region. Each step builds on the state the one
// before left, so the first failure ends the test.
func TestTestBed(t *testing.T) {
	b := startBed(t)
	eu, us, ap := b.regions[0], b.regions[1], b.regions[2]
	var dep api.Deployment
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"deploy", func(t *testing.T) { dep = b.deploy(t, "hello") }},
		{"geodns", func(t *testing.T) { b.checkDNS(t, "hello") }},
		{"requests", func(t *testing.T) { b.checkRequests(t, "hello") }},
		{"cut-node", func(t *testing.T) { b.cutNode(t, eu, dep.ID, "hello") }},
		{"drain-node", func(t *testing.T) { b.drainNode(t, us, dep.ID, "hello") }},
		{"cut-region", func(t *testing.T) { b.cutRegion(t, ap, dep.ID, "hello") }},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// deploy creates project with 3 instances per region, deploys the sample
// app and checks that its 9 instances are healthy, 3 in each region, on
// both of each region's nodes.
func (b *bed) deploy(t *testing.T, project string) api.Deployment {
	if code, err := b.call("POST", "/v1/projects", b.token, api.CreateProjectRequest{Name: project, MinInstancesPerRegion: 3}, nil); code != 201 {
		t.Fatalf("create project: %d %v", code, err)
	}
	layout := filepath.Join(b.dir, "image")
	if _, err := examples.BuildSampleImage(context.Background(), "", layout, examples.SampleConfig); err != nil {
		t.Fatal(err)
	}
	d, err := cli.Deploy(context.Background(), cli.Config{APIURL: b.opURL, Token: b.token}, testWriter{t}, project, layout)
	if err != nil {
		t.Fatalf("deploy: %v (%s)", err, describe(d))
	}
	d = b.deployment(t, d.ID)
	perRegion := b.healthyPerRegion(t, d, "")
	for _, r := range b.regions {
		nodes := perRegion[r.name]
		if len(nodes) < 3 {
			t.Errorf("region %s has %d healthy instances, want at least 3: %s", r.name, len(nodes), describe(d))
		}
		if distinct(nodes) != 2 {
			// The scheduler spreads a region's instances over its nodes,
			// but places an instance that failed to start again on
			// another node: then the spread is lost, rightly. Under CI's
			// load that happened now and then (cause not found yet: the
			// reasons are logged here).
			if failed := b.failedIn(t, d, r.name); len(failed) > 0 {
				t.Logf("region %s's instances are on 1 node after %d replaced: %s", r.name, len(failed), strings.Join(failed, "; "))
				continue
			}
			t.Errorf("region %s's instances are on %d of its 2 nodes: %s", r.name, distinct(nodes), describe(d))
		}
	}
	if n := len(healthy(d)); n != 9 {
		t.Errorf("%d healthy instances, want 9: %s", n, describe(d))
	}
	return d
}

// checkDNS asks every DNS server from every region's clients: each gets
// its own region's load balancer, and an ECS option naming another
// region's subnet gets that region's.
func (b *bed) checkDNS(t *testing.T, project string) {
	name := project + "." + appsDomain
	for _, r := range b.regions {
		for _, server := range b.regions {
			got, err := resolve(r.client, server.dns.ip, name, netip.Prefix{})
			if err != nil || !slices.Equal(got, []netip.Addr{r.lb.ip}) {
				t.Errorf("%s client asking %s's DNS: %v %v, want [%s]", r.name, server.name, got, err, r.lb.ip)
			}
		}
		other := b.regions[(r.idx+1)%len(b.regions)]
		got, err := resolve(r.client, r.dns.ip, name, other.clients)
		if err != nil || !slices.Equal(got, []netip.Addr{other.lb.ip}) {
			t.Errorf("%s client asking with ECS %s: %v %v, want %s's load balancer [%s]", r.name, other.clients, got, err, other.name, other.lb.ip)
		}
	}
}

// checkRequests requests the app from each region's clients through
// their region's load balancer: the app sees the client's own address
// (PROXY v2 from the load balancer to the edge, X-Forwarded-For from the
// edge to the app), and the region's edge logged it.
func (b *bed) checkRequests(t *testing.T, project string) {
	for _, r := range b.regions {
		code, body, err := get(httpClient(r.client), r.lb.ip, project+"."+appsDomain)
		if err != nil || code != 200 {
			t.Errorf("%s client: %d %v %.300s", r.name, code, err, body)
			continue
		}
		if !strings.Contains(body, "<code>"+r.client.ip.String()+"</code>") {
			t.Errorf("%s client %s: the app did not see its address: %.1000s", r.name, r.client.ip, body)
		}
		logged, _ := os.ReadFile(b.accessLog(r))
		if !strings.Contains(string(logged), `"client":"`+r.client.ip.String()) {
			t.Errorf("%s edge's access log has no request from %s: %.500s", r.name, r.client.ip, logged)
		}
	}
}

// cutNode takes the region's node with the most instances off the
// network while clients request the app: within 30 s its instances are
// placed again on the region's other node (docs/operations.md: "replaced
// within 30 s of the last heartbeat plus a boot"), they boot there, and
// no request fails meanwhile.
func (b *bed) cutNode(t *testing.T, r *region, depID, project string) {
	victim := b.busiestNode(t, b.deployment(t, depID), r)
	victimID := b.nodeIDs[victim.name]
	l := startLoad(r.client, r.lb.ip, project+"."+appsDomain, 2)
	defer l.finish() // when a check fails first
	l.waitRequests(t, 20)
	victim.cut(t)
	cutAt := time.Now()
	err := poll("the cut node's instances to be placed again in its region", 30*time.Second, func() (bool, string) {
		d := b.deployment(t, depID)
		return len(b.placedInRegion(t, d, r, victimID)) >= 3, describe(d)
	})
	if err == nil {
		t.Logf("instances placed again %s after the cut", time.Since(cutAt).Round(100*time.Millisecond))
		err = poll("the replacements to be healthy", bootDeadline, func() (bool, string) {
			d := b.deployment(t, depID)
			return len(b.healthyPerRegion(t, d, victimID)[r.name]) >= 3, describe(d)
		})
	}
	if err == nil {
		t.Logf("replacements healthy %s after the cut", time.Since(cutAt).Round(100*time.Millisecond))
		l.waitRequests(t, 20) // and traffic keeps flowing on the new ones
	}
	n, failures := l.finish()
	t.Logf("%d requests during the cut, %d failed, slowest %s", n, len(failures), l.slowest.Round(time.Millisecond))
	if err != nil {
		t.Error(err)
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed while a node was cut:\n%s", len(failures), n, strings.Join(failures, "\n"))
	}
	for _, node := range b.nodes(t) {
		if node.ID == victimID && node.State != "down" {
			t.Errorf("cut node is %s, want down", node.State)
		}
	}
}

// drainNode drains the region's node with the most instances while
// clients request the app: its instances move to the region's other
// node, and no request fails.
func (b *bed) drainNode(t *testing.T, r *region, depID, project string) {
	victim := b.busiestNode(t, b.deployment(t, depID), r)
	victimID := b.nodeIDs[victim.name]
	l := startLoad(r.client, r.lb.ip, project+"."+appsDomain, 2)
	defer l.finish()
	l.waitRequests(t, 20)
	if code, err := b.call("POST", "/v1/nodes/"+victimID+"/drain", b.admin, nil, nil); code != 200 {
		t.Fatalf("drain: %d %v", code, err)
	}
	err := poll("the drained node's instances to move", bootDeadline, func() (bool, string) {
		d := b.deployment(t, depID)
		left := 0
		for _, in := range d.Instances {
			if in.Node == victimID && in.State != api.InstanceStopped {
				left++
			}
		}
		return left == 0 && len(b.healthyPerRegion(t, d, victimID)[r.name]) >= 3, describe(d)
	})
	if err == nil {
		l.waitRequests(t, 20)
	}
	n, failures := l.finish()
	t.Logf("%d requests during the drain, %d failed, slowest %s", n, len(failures), l.slowest.Round(time.Millisecond))
	if err != nil {
		t.Error(err)
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during the drain:\n%s", len(failures), n, strings.Join(failures, "\n"))
	}
}

// cutRegion takes all of a region's hosts off the network (its clients
// stay): within the answers' TTL plus the DNS health interval every DNS
// server left answers its clients with the nearest other region's load
// balancer, and requests through it are served there at once. Meanwhile
// the other regions' clients, under constant load through their own load
// balancers, see no failed request, before the cut region's nodes are
// marked down and after: each edge tries its own region's instances
// first, never the cut region's unreachable ones (their logs show no
// attempt on one).
func (b *bed) cutRegion(t *testing.T, r *region, depID, project string) {
	name := project + "." + appsDomain
	next := b.byDistance(r)[1]
	cutInstances := b.healthyIn(t, b.deployment(t, depID), r)
	loads := map[*region]*load{}
	for _, o := range b.regions {
		if o != r {
			loads[o] = startLoad(o.client, o.lb.ip, name, 2)
			defer loads[o].finish() // when a check fails first
		}
	}
	for _, l := range loads {
		l.waitRequests(t, 10)
	}
	logFrom := map[*region]int64{}
	for o := range loads {
		logFrom[o] = b.procs[o.edge.name].size()
	}
	for _, h := range r.hosts() {
		h.cut(t)
	}
	cutAt := time.Now()
	limit := time.Duration(dnsTTL)*time.Second + dnsHealth + dnsTimeout
	eventually(t, fmt.Sprintf("every DNS server left to answer %s's clients with %s's load balancer", r.name, next.name), limit, func() (bool, string) {
		var state []string
		ok := true
		for _, o := range b.regions {
			if o == r {
				continue
			}
			got, err := resolve(r.client, o.dns.ip, name, netip.Prefix{})
			ok = ok && err == nil && slices.Equal(got, []netip.Addr{next.lb.ip})
			state = append(state, fmt.Sprint(o.name, got, err))
		}
		return ok, strings.Join(state, " ")
	})
	t.Logf("DNS left %s out %s after the cut", r.name, time.Since(cutAt).Round(100*time.Millisecond))
	// The cut region's nodes may not be marked down yet: the edge of the
	// next region serves from its own instances all the same.
	c := httpClient(r.client)
	for i := range 5 {
		code, body, err := get(c, next.lb.ip, name)
		if err != nil || code != 200 || !strings.Contains(body, "<code>"+r.client.ip.String()+"</code>") {
			t.Errorf("%s's client through %s, request %d: %d %v %.300s", r.name, next.name, i+1, code, err, body)
		}
	}
	// Keep the load on until the cut region's nodes are down and the
	// route tables have dropped them, to cover the whole window.
	eventually(t, fmt.Sprintf("%s's nodes to be marked down", r.name), nodeDownAfter+30*time.Second, func() (bool, string) {
		var state []string
		down := true
		for _, n := range b.nodes(t) {
			if n.Region == r.name {
				down = down && n.State == "down"
				state = append(state, n.Hostname+":"+n.State)
			}
		}
		return down, strings.Join(state, " ")
	})
	for _, l := range loads {
		l.waitRequests(t, 10)
	}
	for o, l := range loads {
		n, failures := l.finish()
		t.Logf("%s's clients: %d requests while %s was cut, %d failed, slowest %s", o.name, n, r.name, len(failures), l.slowest.Round(time.Millisecond))
		if len(failures) > 0 {
			t.Errorf("%d of %d requests of %s's clients failed while %s was cut:\n%s", len(failures), n, o.name, r.name, strings.Join(failures, "\n"))
		}
		// Failures are rare even when an edge tries the cut region (it
		// takes three unreachable instances in a row); any attempt on one
		// shows the edge did not keep to its own region.
		for _, line := range b.procs[o.edge.name].linesFrom(logFrom[o]) {
			for _, id := range cutInstances {
				if strings.Contains(line, "upstream attempt failed") && strings.Contains(line, id) {
					t.Errorf("%s's edge tried an instance of the cut region %s: %s", o.name, r.name, line)
				}
			}
		}
	}
}

// healthyIn lists the IDs of d's healthy instances on r's nodes.
func (b *bed) healthyIn(t *testing.T, d api.Deployment, r *region) []string {
	t.Helper()
	var out []string
	for _, in := range healthy(d) {
		for _, n := range r.nodes {
			if b.nodeIDs[n.name] == in.Node {
				out = append(out, in.ID)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no healthy instance in %s: %s", r.name, describe(d))
	}
	return out
}

// waitRequests waits until n more requests have been made.
func (l *load) waitRequests(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	want := l.n + n
	l.mu.Unlock()
	eventually(t, fmt.Sprintf("%d more requests", n), 60*time.Second, func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.n >= want, fmt.Sprintf("%d of %d", l.n, want)
	})
}

func (b *bed) deployment(t *testing.T, id string) api.Deployment {
	t.Helper()
	var d api.Deployment
	if code, err := b.call("GET", "/v1/deployments/"+id, b.token, nil, &d); code != 200 {
		t.Fatalf("get deployment: %d %v", code, err)
	}
	return d
}

// placedInRegion lists the instances the operator wants running on the
// region's nodes other than skip, whatever their state.
func (b *bed) placedInRegion(t *testing.T, d api.Deployment, r *region, skip string) []api.Instance {
	t.Helper()
	var out []api.Instance
	for _, in := range d.Instances {
		for _, n := range r.nodes {
			if id := b.nodeIDs[n.name]; in.Node == id && id != skip && in.Desired == "running" {
				out = append(out, in)
			}
		}
	}
	return out
}

// healthyPerRegion lists the nodes of each region's healthy, running
// instances (one entry per instance), leaving out the node skip.
func (b *bed) healthyPerRegion(t *testing.T, d api.Deployment, skip string) map[string][]string {
	t.Helper()
	region := map[string]string{}
	for _, n := range b.nodes(t) {
		region[n.ID] = n.Region
	}
	out := map[string][]string{}
	for _, in := range healthy(d) {
		if in.Node != skip {
			out[region[in.Node]] = append(out[region[in.Node]], in.Node)
		}
	}
	return out
}

// failedIn lists the region's instances of d that are not healthy (the
// deployment is ready, so these were replaced), with their reasons.
func (b *bed) failedIn(t *testing.T, d api.Deployment, region string) []string {
	t.Helper()
	regions := map[string]string{}
	for _, n := range b.nodes(t) {
		regions[n.ID] = n.Region
	}
	var out []string
	for _, in := range d.Instances {
		if regions[in.Node] == region && in.State != api.InstanceHealthy {
			out = append(out, fmt.Sprintf("%s on %s: %s %s", in.ID, in.Node, in.State, in.Reason))
		}
	}
	return out
}

// busiestNode is the region's node host with the most healthy instances.
func (b *bed) busiestNode(t *testing.T, d api.Deployment, r *region) *host {
	t.Helper()
	count := map[string]int{}
	for _, in := range healthy(d) {
		count[in.Node]++
	}
	best := r.nodes[0]
	for _, n := range r.nodes[1:] {
		if count[b.nodeIDs[n.name]] > count[b.nodeIDs[best.name]] {
			best = n
		}
	}
	if count[b.nodeIDs[best.name]] == 0 {
		t.Fatalf("no instance on %s's nodes: %s", r.name, describe(d))
	}
	return best
}

func healthy(d api.Deployment) []api.Instance {
	var out []api.Instance
	for _, in := range d.Instances {
		if in.Desired == "running" && in.State == api.InstanceHealthy {
			out = append(out, in)
		}
	}
	return out
}

func distinct(ss []string) int {
	seen := map[string]bool{}
	for _, s := range ss {
		seen[s] = true
	}
	return len(seen)
}

func describe(d api.Deployment) string {
	var parts []string
	for _, in := range d.Instances {
		id := in.ID
		if len(id) > 8 {
			id = id[:8]
		}
		node := in.Node
		if len(node) > 8 {
			node = node[:8]
		}
		parts = append(parts, fmt.Sprintf("%s@%s:%s/%s", id, node, in.Desired, in.State))
		if in.Reason != "" && in.State != api.InstanceHealthy {
			parts[len(parts)-1] += " (" + in.Reason + ")"
		}
	}
	return d.Status + " " + d.Reason + " [" + strings.Join(parts, " ") + "]"
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
