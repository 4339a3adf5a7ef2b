package scheduler

import (
	"reflect"
	"testing"
)

// sized gives nodes a capacity of vcpus and memory MiB.
func sized(ns []Node, vcpus, mem int) []Node {
	for i := range ns {
		ns[i].VCPUs, ns[i].MemoryMiB = vcpus, mem
	}
	return ns
}

func sizedRunning(id, dep, region, node string, healthy bool, vcpus, mem int) Instance {
	in := running(id, dep, region, node, healthy)
	in.VCPUs, in.MemoryMiB = vcpus, mem
	return in
}

func TestScheduleCapacityAndRegions(t *testing.T) {
	small := Deployment{ID: "d1", Active: true, MinPerRegion: 3, VCPUs: 1, MemoryMiB: 256}
	tests := []struct {
		name  string
		state State
		want  Plan
	}{
		{
			name:  "distinct nodes first, then doubling up, within memory",
			state: State{Nodes: sized(nodes("eu/n1", "eu/n2"), 4, 1024), Deployments: []Deployment{small}},
			want:  Plan{Place: []Placement{{"d1", "eu", "n1"}, {"d1", "eu", "n2"}, {"d1", "eu", "n1"}}},
		},
		{
			name: "a full node gets nothing; the one with room gets all",
			state: State{
				Nodes:       sized(nodes("eu/n1", "eu/n2"), 4, 1024),
				Deployments: []Deployment{{ID: "d0", Active: true, MinPerRegion: 1, VCPUs: 1, MemoryMiB: 1024}, small},
				Instances:   []Instance{sizedRunning("a", "d0", "eu", "n1", true, 1, 1024)},
			},
			want: Plan{Place: []Placement{{"d1", "eu", "n2"}, {"d1", "eu", "n2"}, {"d1", "eu", "n2"}}},
		},
		{
			name:  "short of memory: placed what fits and reported the rest",
			state: State{Nodes: sized(nodes("eu/n1", "eu/n2"), 4, 384), Deployments: []Deployment{small}},
			want: Plan{
				Place: []Placement{{"d1", "eu", "n1"}, {"d1", "eu", "n2"}},
				Shortfalls: []Shortfall{{"d1", "eu", 2, 3,
					"not enough capacity (needs 256 MiB and 1 vCPU, largest free 128 MiB and 3 vCPU)"}},
			},
		},
		{
			name:  "vCPUs are a limit without overcommit",
			state: State{Nodes: sized(nodes("eu/n1"), 2, 4096), Deployments: []Deployment{small}},
			want: Plan{
				Place: []Placement{{"d1", "eu", "n1"}, {"d1", "eu", "n1"}},
				Shortfalls: []Shortfall{{"d1", "eu", 2, 3,
					"not enough capacity (needs 256 MiB and 1 vCPU, largest free 3584 MiB and 0 vCPU)"}},
			},
		},
		{
			name:  "overcommit lets vCPUs add up past the node's",
			state: State{Nodes: sized(nodes("eu/n1"), 2, 4096), Deployments: []Deployment{small}, CPUOvercommit: 2},
			want:  Plan{Place: []Placement{{"d1", "eu", "n1"}, {"d1", "eu", "n1"}, {"d1", "eu", "n1"}}},
		},
		{
			name: "instances being stopped still take room",
			state: State{
				Nodes: sized(nodes("eu/n1"), 4, 512), Deployments: []Deployment{{ID: "d1", Active: true, MinPerRegion: 1, VCPUs: 1, MemoryMiB: 256}},
				Instances: []Instance{{ID: "old", DeploymentID: "gone", Region: "eu", NodeID: "n1", VCPUs: 1, MemoryMiB: 512}},
			},
			want: Plan{Shortfalls: []Shortfall{{"d1", "eu", 0, 1,
				"not enough capacity (needs 256 MiB and 1 vCPU, largest free 0 MiB and 3 vCPU)"}}},
		},
		{
			name: "a region list runs only there",
			state: State{Nodes: nodes("eu/n1", "us/n2", "ap/n3"), Deployments: []Deployment{
				{ID: "d1", Active: true, MinPerRegion: 1, Regions: []string{"us", "eu"}}}},
			want: Plan{Place: []Placement{{"d1", "eu", "n1"}, {"d1", "us", "n2"}}},
		},
		{
			name: "a listed region without nodes is reported",
			state: State{Nodes: nodes("eu/n1", "us/n2!"), Deployments: []Deployment{
				{ID: "d1", Active: true, MinPerRegion: 1, Regions: []string{"ap", "eu", "us"}}}},
			want: Plan{
				Place: []Placement{{"d1", "eu", "n1"}},
				Shortfalls: []Shortfall{
					{"d1", "ap", 0, 1, "no node in this region"},
					{"d1", "us", 0, 1, "every node in this region is down"},
				},
			},
		},
		{
			name: "instances outside the region list stop",
			state: State{Nodes: nodes("eu/n1", "us/n2"), Deployments: []Deployment{
				{ID: "d1", Active: true, MinPerRegion: 1, Regions: []string{"eu"}}},
				Instances: []Instance{running("a", "d1", "eu", "n1", true), running("b", "d1", "us", "n2", true)}},
			want: Plan{Stop: []Stop{{"b", "region us is not one of the project's regions"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Schedule(tt.state)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Schedule() =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestScheduleDrain(t *testing.T) {
	dep := []Deployment{{ID: "d1", Active: true, MinPerRegion: 2}}
	drained := func(ns []Node, id string) []Node {
		for i := range ns {
			if ns[i].ID == id {
				ns[i].Drained = true
			}
		}
		return ns
	}
	retiring := func(in Instance, retired bool) Instance { in.Retiring, in.Retired = true, retired; return in }
	tests := []struct {
		name  string
		state State
		want  Plan
	}{
		{
			name: "replacements are placed first and the old ones keep serving",
			state: State{Nodes: drained(nodes("eu/n1", "eu/n2", "eu/n3"), "n1"), Deployments: dep, Instances: []Instance{
				running("a", "d1", "eu", "n1", true), running("b", "d1", "eu", "n2", true)}},
			want: Plan{Place: []Placement{{"d1", "eu", "n3"}}},
		},
		{
			name: "replacement not yet healthy: nothing leaves",
			state: State{Nodes: drained(nodes("eu/n1", "eu/n2", "eu/n3"), "n1"), Deployments: dep, Instances: []Instance{
				running("a", "d1", "eu", "n1", true), running("b", "d1", "eu", "n2", true), running("c", "d1", "eu", "n3", false)}},
			want: Plan{},
		},
		{
			name: "replacement healthy: the old one leaves the route table",
			state: State{Nodes: drained(nodes("eu/n1", "eu/n2", "eu/n3"), "n1"), Deployments: dep, Instances: []Instance{
				running("a", "d1", "eu", "n1", true), running("b", "d1", "eu", "n2", true), running("c", "d1", "eu", "n3", true)}},
			want: Plan{Retire: []string{"a"}},
		},
		{
			name: "retiring, not yet past the drain period: waits",
			state: State{Nodes: drained(nodes("eu/n1", "eu/n2", "eu/n3"), "n1"), Deployments: dep, Instances: []Instance{
				retiring(running("a", "d1", "eu", "n1", true), false), running("b", "d1", "eu", "n2", true), running("c", "d1", "eu", "n3", true)}},
			want: Plan{},
		},
		{
			name: "retired: stopped",
			state: State{Nodes: drained(nodes("eu/n1", "eu/n2", "eu/n3"), "n1"), Deployments: dep, Instances: []Instance{
				retiring(running("a", "d1", "eu", "n1", true), true), running("b", "d1", "eu", "n2", true), running("c", "d1", "eu", "n3", true)}},
			want: Plan{Stop: []Stop{{"a", "node n1 is drained"}}},
		},
		{
			name: "nowhere to go: the drained node keeps serving and the region is reported",
			state: State{Nodes: drained(nodes("eu/n1"), "n1"), Deployments: dep, Instances: []Instance{
				running("a", "d1", "eu", "n1", true), running("b", "d1", "eu", "n1", true)}},
			want: Plan{Shortfalls: []Shortfall{{"d1", "eu", 0, 2, "every ready node in this region is drained; 2 instances stay on drained nodes until they can move"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Schedule(tt.state)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Schedule() =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestReadyWithShortfall(t *testing.T) {
	s := State{Nodes: sized(nodes("eu/n1", "us/n2"), 4, 512), Deployments: []Deployment{{ID: "d1", Active: true, MinPerRegion: 3, VCPUs: 1, MemoryMiB: 256}},
		Instances: []Instance{
			sizedRunning("a", "d1", "eu", "n1", true, 1, 256), sizedRunning("b", "d1", "eu", "n1", true, 1, 256),
			sizedRunning("c", "d1", "us", "n2", true, 1, 256), sizedRunning("d", "d1", "us", "n2", false, 1, 256),
		}}
	if Ready(s, Schedule(s), "d1") {
		t.Error("ready with an unhealthy instance in a short region")
	}
	s.Instances[3].Healthy = true
	if !Ready(s, Schedule(s), "d1") {
		t.Error("not ready although every region has all it can hold")
	}
}
