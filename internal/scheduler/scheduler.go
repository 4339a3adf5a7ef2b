// Package scheduler decides where instances run. It is pure: it reads a
// snapshot of the cluster and returns a plan, with no database, clock or VM
// in sight, so every placement rule is covered by table tests. The operator's
// reconciler applies the plan.
//
// The rules: every active deployment gets its minimum of instances in each
// of its regions (all regions with ready nodes, or the project's list),
// spread over distinct nodes where the region has enough, on nodes that
// have room for them (capacity.go). A region that cannot get its minimum
// is reported in Plan.Shortfalls, never left short silently. A drained
// node's instances are replaced first and stopped only once the
// replacements are healthy and the old ones have left the route table.
package scheduler

import (
	"fmt"
	"slices"
)

// Node is a node agent as the scheduler sees it.
type Node struct {
	ID     string
	Region string
	// Ready is false when the node stopped heartbeating.
	Ready bool
	// Drained nodes get no new instances; theirs move elsewhere.
	Drained bool
	// VCPUs and MemoryMiB are the node's capacity; 0 means unknown, and
	// an unknown capacity is never full.
	VCPUs     int
	MemoryMiB int
	// DiskMiB is the size of the file system that holds the node's VM
	// disks (0: unknown). Every instance's root disk counts against it in
	// full, since a disk may fill however sparse its file starts.
	DiskMiB int
	// DiskFreeMiB is the free space the node last reported on that file
	// system, when DiskReported; instances placed since (still pending)
	// count against it, since their disks were not yet made.
	DiskFreeMiB  int
	DiskReported bool
}

// Deployment is one deployment that may want instances.
type Deployment struct {
	ID string
	// Active deployments (deploying or ready) want instances; others want none.
	Active bool
	// Draining deployments keep the instances they have, so requests routed
	// to them before their route moved can finish, but get no new ones.
	Draining bool
	// Asleep deployments (scaled to zero after no requests) want no
	// instances until they are woken; they stay active.
	Asleep       bool
	MinPerRegion int
	// Regions lists the regions the deployment runs in; empty: all
	// regions that have ready nodes.
	Regions []string
	// VCPUs and MemoryMiB are the size of each of its instances, DiskMiB
	// the room its root disk takes on a node (0: none counted).
	VCPUs     int
	MemoryMiB int
	DiskMiB   int
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
	// Retiring instances are out of the route table (their node is
	// drained and their replacements are healthy); Retired ones have
	// been out of it for the drain period, so nothing sends them requests.
	Retiring bool
	Retired  bool
	// VCPUs, MemoryMiB and DiskMiB are what the instance takes on its
	// node. Pending instances have not been started by the node yet, so
	// its reported free disk does not include theirs.
	VCPUs     int
	MemoryMiB int
	DiskMiB   int
	Pending   bool
}

// State is the snapshot the scheduler plans from.
type State struct {
	Nodes       []Node
	Deployments []Deployment
	Instances   []Instance
	// CPUOvercommit lets the vCPUs of a node's instances add up to this
	// many times its vCPUs (below 1: 1). Memory is never overcommitted.
	CPUOvercommit float64
	// DiskReserveMiB is disk every node keeps free of instances' root
	// disks (for images, templates, logs and the host).
	DiskReserveMiB int
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

// Shortfall is a region where a deployment has fewer instances (running
// or planned) than its minimum, and why.
type Shortfall struct {
	DeploymentID string
	Region       string
	Have, Want   int
	Reason       string
}

// Plan is the scheduler's output.
type Plan struct {
	Place []Placement
	// Retire takes instances of drained nodes out of the route table; a
	// later plan stops them.
	Retire     []string
	Stop       []Stop
	Shortfalls []Shortfall
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Place) == 0 && len(p.Stop) == 0 && len(p.Retire) == 0 }

// Schedule returns the changes that bring every active deployment to its
// minimum number of instances in each of its regions, and that stop
// instances nobody wants any more. It runs in O(instances + deployments ×
// regions × log nodes) for clusters with room: nodes are kept in a heap per
// region, never scanned per placement.
func Schedule(s State) Plan {
	c := newCluster(s)
	var plan Plan
	kept, leaving := c.sortInstances(s.Instances, &plan)
	for di, d := range s.Deployments {
		if !d.Active || d.Asleep {
			continue
		}
		for _, region := range c.regionsOf(d) {
			key := depRegion{di, region}
			c.planRegion(&plan, d, region, kept[key], leaving[key])
		}
	}
	return plan
}

// depRegion keys a deployment's instances in one region.
type depRegion struct {
	dep    int
	region string
}

// sortInstances stops the instances nobody wants and sorts the others into
// those that stay (kept) and those on drained nodes, which leave once
// replaced.
func (c *cluster) sortInstances(all []Instance, plan *Plan) (kept, leaving map[depRegion][]Instance) {
	kept = map[depRegion][]Instance{}
	leaving = map[depRegion][]Instance{}
	for _, in := range all {
		if !in.Running {
			continue
		}
		di, ok := c.depIndex[in.DeploymentID]
		var d Deployment
		if ok {
			d = c.deps[di]
		}
		ni, onNode := c.nodeIndex[in.NodeID]
		switch {
		case ok && d.Draining:
		case !ok || !d.Active:
			plan.Stop = append(plan.Stop, Stop{in.ID, "deployment is no longer active"})
		case d.Asleep:
			// Like a drained node's: out of the route table first, so that
			// a request routed just before the sleep still finishes.
			switch {
			case in.Retired:
				plan.Stop = append(plan.Stop, Stop{in.ID, "scaled to zero: no requests for the idle timeout"})
			case !in.Retiring:
				plan.Retire = append(plan.Retire, in.ID)
			}
		case !onNode || !c.nodes[ni].Ready:
			plan.Stop = append(plan.Stop, Stop{in.ID, "node " + in.NodeID + " is down"})
		case len(d.Regions) > 0 && !slices.Contains(d.Regions, in.Region):
			plan.Stop = append(plan.Stop, Stop{in.ID, "region " + in.Region + " is not one of the project's regions"})
		case c.nodes[ni].Drained || in.Retiring:
			leaving[depRegion{di, in.Region}] = append(leaving[depRegion{di, in.Region}], in)
		default:
			kept[depRegion{di, in.Region}] = append(kept[depRegion{di, in.Region}], in)
		}
	}
	return kept, leaving
}

// planRegion brings one deployment to its minimum in one region.
func (c *cluster) planRegion(plan *Plan, d Deployment, region string, have, leaving []Instance) {
	want := max(d.MinPerRegion, 1)
	healthy := 0
	for _, in := range have {
		if in.Healthy {
			healthy++
		}
	}
	switch {
	case len(have) > want:
		plan.Stop = append(plan.Stop, surplus(have, want)...)
		healthy = min(healthy, want) // surplus stops unhealthy ones first
	case len(have) < want:
		placed, why := c.place(plan, d, region, have, want-len(have))
		if len(have)+placed < want {
			if len(leaving) > 0 {
				why += fmt.Sprintf("; %d instances stay on drained nodes until they can move", len(leaving))
			}
			plan.Shortfalls = append(plan.Shortfalls, Shortfall{d.ID, region, len(have) + placed, want, why})
		}
	}
	c.retire(plan, leaving, healthy, want)
}

// retire moves a drained node's instances out once their replacements are
// healthy: out of the route table first, stopped a plan later.
func (c *cluster) retire(plan *Plan, leaving []Instance, healthy, want int) {
	if healthy < want {
		return
	}
	for _, in := range leaving {
		switch {
		case in.Retired:
			plan.Stop = append(plan.Stop, Stop{in.ID, "node " + in.NodeID + " is drained"})
		case !in.Retiring:
			plan.Retire = append(plan.Retire, in.ID)
		}
	}
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
