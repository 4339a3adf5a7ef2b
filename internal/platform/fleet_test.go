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

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
)

// TestTwoNodes runs two node agents, each with its own VM network, and
// checks that instances spread over both, that the instances of a node
// that stops heartbeating move to the other, and that the dead node, once
// back, removes the VMs nobody wants any more.
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
