package scheduler

import (
	"reflect"
	"testing"
)

// disked gives nodes a disk of total MiB, and a reported free space when
// free >= 0.
func disked(ns []Node, total, free int) []Node {
	for i := range ns {
		ns[i].DiskMiB = total
		if free >= 0 {
			ns[i].DiskFreeMiB, ns[i].DiskReported = free, true
		}
	}
	return ns
}

func TestScheduleDisk(t *testing.T) {
	dep := Deployment{ID: "d1", Active: true, MinPerRegion: 2, VCPUs: 1, MemoryMiB: 256, DiskMiB: 1024}
	onDisk := func(in Instance, disk int, pending bool) Instance {
		in.VCPUs, in.MemoryMiB, in.DiskMiB, in.Pending = 1, 256, disk, pending
		return in
	}
	tests := []struct {
		name  string
		state State
		want  Plan
	}{
		{
			name: "a node whose disk is full gets nothing, though it has the most memory",
			state: State{
				Nodes:       append(disked(sized(nodes("eu/full"), 8, 8192), 0, 512), disked(sized(nodes("eu/n2"), 8, 2048), 0, 10240)...),
				Deployments: []Deployment{dep},
			},
			want: Plan{Place: []Placement{{"d1", "eu", "n2"}, {"d1", "eu", "n2"}}},
		},
		{
			name: "no node has room on disk: the shortfall says so",
			state: State{
				Nodes:       disked(sized(nodes("eu/n1", "eu/n2"), 8, 8192), 0, 1500),
				Deployments: []Deployment{dep}, DiskReserveMiB: 1024,
			},
			want: Plan{Shortfalls: []Shortfall{{"d1", "eu", 0, 2,
				"not enough capacity (needs 256 MiB and 1 vCPU, largest free 8192 MiB and 8 vCPU; needs 1024 MiB of disk, largest free 476 MiB after the 1024 MiB reserve)"}}},
		},
		{
			name: "the reported free space shrinks with each placement of the plan",
			state: State{
				Nodes:       disked(sized(nodes("eu/n1"), 8, 8192), 0, 2560),
				Deployments: []Deployment{{ID: "d1", Active: true, MinPerRegion: 3, VCPUs: 1, MemoryMiB: 256, DiskMiB: 1024}},
			},
			want: Plan{Place: []Placement{{"d1", "eu", "n1"}, {"d1", "eu", "n1"}}, Shortfalls: []Shortfall{{"d1", "eu", 2, 3,
				"not enough capacity (needs 256 MiB and 1 vCPU, largest free 7680 MiB and 6 vCPU; needs 1024 MiB of disk, largest free 512 MiB after the 0 MiB reserve)"}}},
		},
		{
			name: "pending instances count against the reported free space, started ones do not",
			state: State{
				Nodes:       disked(sized(nodes("eu/n1"), 8, 8192), 0, 2048),
				Deployments: []Deployment{{ID: "d0", Active: true, MinPerRegion: 2, DiskMiB: 1024}, dep},
				Instances: []Instance{
					onDisk(running("a", "d0", "eu", "n1", true), 1024, false),
					onDisk(running("b", "d0", "eu", "n1", false), 1024, true),
				},
			},
			want: Plan{Place: []Placement{{"d1", "eu", "n1"}}, Shortfalls: []Shortfall{{"d1", "eu", 1, 2,
				"not enough capacity (needs 256 MiB and 1 vCPU, largest free 7424 MiB and 5 vCPU; needs 1024 MiB of disk, largest free 0 MiB after the 0 MiB reserve)"}}},
		},
		{
			name: "every instance's root disk counts against the node's size",
			state: State{
				Nodes:       disked(sized(nodes("eu/n1"), 8, 8192), 3072, -1),
				Deployments: []Deployment{{ID: "d0", Active: true, MinPerRegion: 1, DiskMiB: 2048}, dep},
				Instances:   []Instance{onDisk(running("a", "d0", "eu", "n1", true), 2048, false)},
			},
			want: Plan{Place: []Placement{{"d1", "eu", "n1"}}, Shortfalls: []Shortfall{{"d1", "eu", 1, 2,
				"not enough capacity (needs 256 MiB and 1 vCPU, largest free 7680 MiB and 6 vCPU; needs 1024 MiB of disk, largest free 0 MiB after the 0 MiB reserve)"}}},
		},
		{
			name: "a node that reports no disk is never full of it",
			state: State{
				Nodes:       sized(nodes("eu/n1"), 8, 8192),
				Deployments: []Deployment{dep}, DiskReserveMiB: 1 << 20,
			},
			want: Plan{Place: []Placement{{"d1", "eu", "n1"}, {"d1", "eu", "n1"}}},
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
