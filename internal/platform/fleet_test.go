package platform

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
)

// TestTwoNodes runs two node agents, each with its own VM network, and
// checks that instances spread over both, that the instances of a node
// that stops heartbeating move to the other, that the dead node, once
// back, removes the VMs nobody wants any more, and that draining a node
// under constant load moves its instances without a failed request.
func TestTwoNodes(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.NodeGrace = 3 * time.Second })
	b := byte(os.Getpid()%150 + 50)
	second, err := e.p.AddNode(context.Background(), NodeConfig{
		Region:  "local",
		NetName: "zwf" + strconv.Itoa(os.Getpid()%100000),
		Subnet:  netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, b, 0}), 24),
		Transit: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 245, b, 0}), 30),
	})
	if err != nil {
		t.Fatal(err)
	}
	first := e.p.Nodes[0]
	// A user's status shows only the nodes its instances run on, so the
	// fleet is read from the store.
	e.eventually("both nodes to register", 20*time.Second, func() (bool, string) {
		nodes, err := e.p.Store.ListNodes(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return len(nodes) == 2 && first.ID() != "" && second.ID() != "", fmt.Sprint(len(nodes))
	})

	e.createProject("spread", "")
	d, err := e.deploy("spread", e.sampleLayout("spread", examples.SampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	d = e.getDeployment(d.ID)
	perNode := map[string]int{}
	for _, in := range d.Instances {
		perNode[in.Node]++
	}
	if perNode[first.ID()] == 0 || perNode[second.ID()] == 0 {
		t.Fatalf("instances not spread over both nodes: %v", perNode)
	}

	second.Stop() // its VMs keep running, but it stops heartbeating
	e.eventually("the dead node's instances to be replaced on the live one", 90*time.Second, func() (bool, string) {
		d := e.getDeployment(d.ID)
		onFirst := 0
		for _, in := range d.Instances {
			if in.Desired == "running" && in.State == api.InstanceHealthy && in.Node == first.ID() {
				onFirst++
			}
		}
		return onFirst == 3, describe(d)
	})
	nodes, err := e.p.Store.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID.String() == second.ID() && n.State != "down" {
			t.Errorf("silent node is %s, want down", n.State)
		}
	}
	if status, body, _ := e.get(e.host("spread"), "/"); status != 200 {
		t.Fatalf("project URL after the node died: %d %s", status, body)
	}

	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	e.eventually("the returning node to remove its unwanted VMs", 60*time.Second, func() (bool, string) {
		left := vmDirs(second.StateDir() + "/vms")
		return len(left) == 0, strings.Join(left, " ")
	})

	// All three instances are on the first node now: drain it.
	e.eventually("the returning node to be ready", 30*time.Second, func() (bool, string) {
		id, err := uuid.Parse(second.ID())
		if err != nil {
			return false, "not registered yet"
		}
		n, err := e.p.Store.GetNode(context.Background(), id)
		return err == nil && n.State == "ready", n.State
	})
	stop := e.requestsUntilStopped(e.host("spread"), "/")
	if code := e.apiBody("POST", "/v1/nodes/"+first.ID()+"/drain", "", e.p.Token, nil); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	e.eventually("the drained node's instances to move to the other", 120*time.Second, func() (bool, string) {
		d := e.getDeployment(d.ID)
		moved, left := 0, 0
		for _, in := range d.Instances {
			if in.Node == second.ID() && in.Desired == "running" && in.State == api.InstanceHealthy {
				moved++
			}
			if in.Node == first.ID() && in.State != api.InstanceStopped {
				left++
			}
		}
		return moved == 3 && left == 0, describe(d)
	})
	n, failures := stop()
	for _, f := range failures {
		t.Errorf("project URL failed during the drain: %s", f)
	}
	t.Logf("%d requests to the project URL during the drain", n)
}

// requestsUntilStopped requests host's path in a loop until the returned
// function is called, which returns how many requests were made and the
// failed ones.
func (e *env) requestsUntilStopped(host, path string) func() (int, []string) {
	stop := make(chan struct{})
	type result struct {
		n        int
		failures []string
	}
	done := make(chan result)
	go func() {
		var r result
		for {
			select {
			case <-stop:
				done <- r
				return
			default:
			}
			if status, body, err := e.get(host, path); status != 200 {
				r.failures = append(r.failures, fmt.Sprint(status, " ", err, " ", body))
			}
			r.n++
		}
	}()
	return func() (int, []string) {
		close(stop)
		r := <-done
		return r.n, r.failures
	}
}

func vmDirs(dir string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}
