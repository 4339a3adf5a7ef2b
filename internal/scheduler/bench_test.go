package scheduler

import (
	"fmt"
	"testing"
)

// benchState is a large cluster: 1,000 nodes in 5 regions and 10,000
// deployments of 3 instances per region (most in every region, some in one
// or two), 1 GiB root disks on 2 TiB node disks, with 10 nodes down (their instances to replace) and one drained.
// placed of every 5 deployments are placed already: 4 gives about 100,000
// instances in the snapshot and 30,000 placements in the plan; 0 gives an
// empty cluster and 120,000 placements.
func benchState(placed int) State {
	regions := []string{"ap", "eu", "sa", "us-east", "us-west"}
	var s State
	s.CPUOvercommit, s.DiskReserveMiB = 4, 10<<10
	for i := range 1000 {
		s.Nodes = append(s.Nodes, Node{
			ID: fmt.Sprintf("node-%04d", i), Region: regions[i%len(regions)], Ready: i%100 != 7, Drained: i == 500,
			VCPUs: 64, MemoryMiB: 256 << 10, DiskMiB: 2 << 20, DiskFreeMiB: 1 << 20, DiskReported: true,
		})
	}
	byRegion := map[string][]string{}
	for _, n := range s.Nodes {
		byRegion[n.Region] = append(byRegion[n.Region], n.ID)
	}
	for i := range 10000 {
		d := Deployment{ID: fmt.Sprintf("dep-%05d", i), Active: true, MinPerRegion: 3, VCPUs: 1, MemoryMiB: 256, DiskMiB: 1024}
		if i%10 < 3 {
			d.Regions = regions[i%5 : i%5+1+i%2]
		}
		s.Deployments = append(s.Deployments, d)
		if i%5 >= placed {
			continue // not yet placed
		}
		for _, r := range s.regions(d, regions) {
			nodes := byRegion[r]
			for k := range 3 {
				node := nodes[(i*3+k)%len(nodes)]
				s.Instances = append(s.Instances, Instance{
					ID: fmt.Sprintf("in-%05d-%s-%d", i, r, k), DeploymentID: d.ID, Region: r, NodeID: node,
					Running: true, Healthy: true, VCPUs: 1, MemoryMiB: 256, DiskMiB: 1024,
				})
			}
		}
	}
	return s
}

func (s State) regions(d Deployment, all []string) []string {
	if len(d.Regions) > 0 {
		return d.Regions
	}
	return all
}

// BenchmarkSchedule is one plan for the cluster of benchState: steady (most
// deployments placed, some nodes failed) and cold (nothing placed yet).
func BenchmarkSchedule(b *testing.B) {
	b.Run("steady", func(b *testing.B) { benchSchedule(b, benchState(4)) })
	b.Run("cold", func(b *testing.B) { benchSchedule(b, benchState(0)) })
}

func benchSchedule(b *testing.B, s State) {
	b.ReportAllocs()
	var plan Plan
	for b.Loop() {
		plan = Schedule(s)
	}
	b.ReportMetric(float64(len(plan.Place)), "placements")
	b.ReportMetric(float64(len(s.Instances)), "instances")
}
