// Package scheduler decides where instances run. It is pure: it reads a
// snapshot of the cluster and returns a plan, with no database, clock or VM
// in sight, so every placement rule is covered by table tests. The operator's
// reconciler applies the plan.
package scheduler

import (
	"cmp"
	"slices"
)

// Node is a node agent as the scheduler sees it.
type Node struct {
	ID     string
	Region string
	// Ready is false when the node stopped heartbeating.
	Ready bool
}

// Deployment is one deployment that may want instances.
type Deployment struct {
	ID string
	// Active deployments (deploying or ready) want instances; others want none.
	Active bool
	// Draining deployments keep the instances they have, so requests routed
	// to them before their route moved can finish, but get no new ones.
	Draining     bool
	MinPerRegion int
}

// Instance is one instance that is not yet stopped.
type Instance struct {
	ID           string
	DeploymentID string
	Region       string
	NodeID       string
	// Running is true while the operator wants it to run (desired=running).
	Running bool
	Healthy bool
}

// State is the snapshot the scheduler plans from.
type State struct {
	Nodes       []Node
	Deployments []Deployment
	Instances   []Instance
}

// Placement asks for a new instance of a deployment on a node.
type Placement struct {
	DeploymentID string
	Region       string
	NodeID       string
}

// Stop asks for an instance to be stopped, with the reason users will see.
type Stop struct {
	InstanceID string
	Reason     string
}

// Plan is the scheduler's output.
type Plan struct {
	Place []Placement
	Stop  []Stop
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Place) == 0 && len(p.Stop) == 0 }

// Schedule returns the changes that bring every active deployment to its
// minimum number of instances in each region that has ready nodes, spread
// over distinct nodes, and that stop instances nobody wants any more.
func Schedule(s State) Plan {
	var plan Plan
	nodes := make(map[string]Node, len(s.Nodes))
	regions := map[string][]Node{}
	for _, n := range s.Nodes {
		nodes[n.ID] = n
		if n.Ready {
			regions[n.Region] = append(regions[n.Region], n)
		}
	}
	deps := make(map[string]Deployment, len(s.Deployments))
	for _, d := range s.Deployments {
		deps[d.ID] = d
	}

	// load counts running instances per node, for spreading.
	load := map[string]int{}
	// kept[deployment][region] lists the running instances that stay.
	kept := map[string]map[string][]Instance{}
	for _, in := range s.Instances {
		if !in.Running {
			continue
		}
		d, ok := deps[in.DeploymentID]
		switch {
		case ok && d.Draining:
			continue
		case !ok || !d.Active:
			plan.Stop = append(plan.Stop, Stop{in.ID, "deployment is no longer active"})
			continue
		case !nodes[in.NodeID].Ready:
			plan.Stop = append(plan.Stop, Stop{in.ID, "node " + in.NodeID + " is down"})
			continue
		}
		load[in.NodeID]++
		if kept[d.ID] == nil {
			kept[d.ID] = map[string][]Instance{}
		}
		kept[d.ID][in.Region] = append(kept[d.ID][in.Region], in)
	}

	for _, d := range s.Deployments {
		if !d.Active {
			continue
		}
		for _, region := range sortedKeys(regions) {
			have := kept[d.ID][region]
			want := max(d.MinPerRegion, 1)
			if len(have) > want {
				plan.Stop = append(plan.Stop, surplus(have, want)...)
				continue
			}
			perNode := map[string]int{}
			for _, in := range have {
				perNode[in.NodeID]++
			}
			for range want - len(have) {
				n := pickNode(regions[region], perNode, load)
				perNode[n.ID]++
				load[n.ID]++
				plan.Place = append(plan.Place, Placement{DeploymentID: d.ID, Region: region, NodeID: n.ID})
			}
		}
	}
	return plan
}

// pickNode prefers the node with the fewest instances of this deployment
// (spreading), then the least loaded node, then the lowest ID (stable plans).
func pickNode(candidates []Node, perNode, load map[string]int) Node {
	return slices.MinFunc(candidates, func(a, b Node) int {
		return cmp.Or(
			cmp.Compare(perNode[a.ID], perNode[b.ID]),
			cmp.Compare(load[a.ID], load[b.ID]),
			cmp.Compare(a.ID, b.ID),
		)
	})
}

// surplus picks the instances to stop when a region has too many: unhealthy
// ones first, then the most recently listed.
func surplus(have []Instance, want int) []Stop {
	sorted := slices.Clone(have)
	slices.SortStableFunc(sorted, func(a, b Instance) int {
		if a.Healthy != b.Healthy {
			if a.Healthy {
				return -1
			}
			return 1
		}
		return 0
	})
	var stops []Stop
	for _, in := range sorted[want:] {
		stops = append(stops, Stop{in.ID, "more instances than needed"})
	}
	return stops
}

// Ready reports whether a deployment has at least its minimum of healthy
// instances in every region that has ready nodes, and at least one such region.
func Ready(s State, deploymentID string) bool {
	var dep *Deployment
	for i := range s.Deployments {
		if s.Deployments[i].ID == deploymentID {
			dep = &s.Deployments[i]
		}
	}
	if dep == nil {
		return false
	}
	ready := map[string]bool{}
	regions := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Ready {
			ready[n.ID] = true
			regions[n.Region] = true
		}
	}
	healthy := map[string]int{}
	for _, in := range s.Instances {
		if in.DeploymentID == deploymentID && in.Running && in.Healthy && ready[in.NodeID] {
			healthy[in.Region]++
		}
	}
	for r := range regions {
		if healthy[r] < max(dep.MinPerRegion, 1) {
			return false
		}
	}
	return len(regions) > 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
