package scheduler

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
)

// cluster is the scheduler's working copy of the nodes: what each has
// left, and per region a heap of the nodes that take new instances.
type cluster struct {
	nodes     []Node
	nodeIndex map[string]int
	deps      []Deployment
	depIndex  map[string]int
	// usedCPU, usedMem, usedDisk and load (instance count) per node
	// index; newDisk is the disk of instances the node has not made yet
	// (pending ones and this plan's), which its reported free space lacks.
	usedCPU, usedMem, usedDisk, newDisk, load []int
	cpuFactor                                 float64
	diskReserve                               int
	// pools holds the ready, undrained nodes of each region.
	pools map[string]*pool
	// readyRegions are the regions with a ready node, sorted: where a
	// deployment without a region list runs.
	readyRegions []string
	// known counts nodes per region, ready or not, for shortfall reasons.
	known map[string]int
}

func newCluster(s State) *cluster {
	n := len(s.Nodes)
	c := &cluster{
		nodes: s.Nodes, nodeIndex: make(map[string]int, n),
		deps: s.Deployments, depIndex: make(map[string]int, len(s.Deployments)),
		usedCPU: make([]int, n), usedMem: make([]int, n), load: make([]int, n),
		usedDisk: make([]int, n), newDisk: make([]int, n), diskReserve: max(s.DiskReserveMiB, 0),
		cpuFactor: max(s.CPUOvercommit, 1), pools: map[string]*pool{}, known: map[string]int{},
	}
	for i, d := range s.Deployments {
		c.depIndex[d.ID] = i
	}
	for i, nd := range s.Nodes {
		c.nodeIndex[nd.ID] = i
	}
	// Every instance not yet stopped takes room on its node, whether the
	// operator still wants it or not: its VM runs until the node stops it.
	for _, in := range s.Instances {
		if i, ok := c.nodeIndex[in.NodeID]; ok {
			c.usedCPU[i] += in.VCPUs
			c.usedMem[i] += in.MemoryMiB
			c.usedDisk[i] += in.DiskMiB
			if in.Pending {
				c.newDisk[i] += in.DiskMiB
			}
			c.load[i]++
		}
	}
	pos := make([]int, n)
	for i, nd := range s.Nodes {
		c.known[nd.Region]++
		if !nd.Ready {
			continue
		}
		p := c.pools[nd.Region]
		if p == nil {
			p = &pool{c: c, pos: pos}
			c.pools[nd.Region] = p
			c.readyRegions = append(c.readyRegions, nd.Region)
		}
		if !nd.Drained {
			p.items = append(p.items, i)
		}
	}
	slices.Sort(c.readyRegions)
	for _, p := range c.pools {
		for k, i := range p.items {
			pos[i] = k
		}
		heap.Init(p)
	}
	return c
}

// regionsOf lists the regions a deployment runs in.
func (c *cluster) regionsOf(d Deployment) []string {
	if len(d.Regions) == 0 {
		return c.readyRegions
	}
	if slices.IsSorted(d.Regions) {
		return d.Regions
	}
	return slices.Sorted(slices.Values(d.Regions))
}

// freeMem is what a node has left; an unknown capacity is never full.
func (c *cluster) freeMem(i int) int {
	if c.nodes[i].MemoryMiB == 0 {
		return math.MaxInt
	}
	return c.nodes[i].MemoryMiB - c.usedMem[i]
}

func (c *cluster) freeCPU(i int) int {
	if c.nodes[i].VCPUs == 0 {
		return math.MaxInt
	}
	return int(float64(c.nodes[i].VCPUs)*c.cpuFactor) - c.usedCPU[i]
}

// freeDisk is the disk a node has left for root disks, less the reserve:
// the smaller of what its size and what its last report leave. A node
// that reports neither is never full.
func (c *cluster) freeDisk(i int) int {
	nd, free := c.nodes[i], math.MaxInt
	if nd.DiskMiB > 0 {
		free = nd.DiskMiB - c.usedDisk[i] - c.diskReserve
	}
	if nd.DiskReported {
		free = min(free, nd.DiskFreeMiB-c.newDisk[i]-c.diskReserve)
	}
	return free
}

// place puts up to n instances of d on the region's nodes and returns how
// many it placed and, when short, why.
func (c *cluster) place(plan *Plan, d Deployment, region string, have []Instance, n int) (int, string) {
	p := c.pools[region]
	if p == nil || p.Len() == 0 {
		return 0, c.noNode(region)
	}
	// perNode counts this deployment's instances per node: a few entries.
	perNode := map[int]int{}
	for _, in := range have {
		perNode[c.nodeIndex[in.NodeID]]++
	}
	for k := range n {
		i, ok := p.pick(d, perNode)
		if !ok {
			return k, c.noRoom(p, d)
		}
		c.usedCPU[i] += d.VCPUs
		c.usedMem[i] += d.MemoryMiB
		c.usedDisk[i] += d.DiskMiB
		c.newDisk[i] += d.DiskMiB
		c.load[i]++
		perNode[i]++
		heap.Fix(p, p.pos[i])
		plan.Place = append(plan.Place, Placement{DeploymentID: d.ID, Region: region, NodeID: c.nodes[i].ID})
	}
	return n, ""
}

func (c *cluster) noNode(region string) string {
	switch {
	case c.known[region] == 0:
		return "no node in this region"
	case c.pools[region] == nil:
		return "every node in this region is down"
	}
	return "every ready node in this region is drained"
}

// noRoom says what the largest free node lacks. Disk is named when the
// deployment has a disk size and a node of the region knows its disk.
func (c *cluster) noRoom(p *pool, d Deployment) string {
	mem, cpu, disk := 0, 0, 0
	for _, i := range p.items {
		mem, cpu, disk = max(mem, c.freeMem(i)), max(cpu, c.freeCPU(i)), max(disk, c.freeDisk(i))
	}
	why := fmt.Sprintf("not enough capacity (needs %d MiB and %d vCPU, largest free %s MiB and %s vCPU",
		d.MemoryMiB, d.VCPUs, amount(mem), amount(cpu))
	if d.DiskMiB > 0 && disk != math.MaxInt {
		why += fmt.Sprintf("; needs %d MiB of disk, largest free %s MiB after the %d MiB reserve",
			d.DiskMiB, amount(disk), c.diskReserve)
	}
	return why + ")"
}

func amount(n int) string {
	if n == math.MaxInt {
		return "unlimited"
	}
	return fmt.Sprint(max(n, 0))
}

// pool is a heap of a region's nodes, the one with most free memory on
// top (then fewest instances, then lowest ID, for stable plans).
type pool struct {
	c     *cluster
	items []int
	pos   []int // node index -> position in items, shared by all pools
	aside []int // pick's scratch space, kept to spare allocations
}

func (p *pool) Len() int { return len(p.items) }
func (p *pool) Less(a, b int) bool {
	i, j := p.items[a], p.items[b]
	if fi, fj := p.c.freeMem(i), p.c.freeMem(j); fi != fj {
		return fi > fj
	}
	if p.c.load[i] != p.c.load[j] {
		return p.c.load[i] < p.c.load[j]
	}
	return p.c.nodes[i].ID < p.c.nodes[j].ID
}
func (p *pool) Swap(a, b int) {
	p.items[a], p.items[b] = p.items[b], p.items[a]
	p.pos[p.items[a]], p.pos[p.items[b]] = a, b
}
func (p *pool) Push(x any) { p.pos[x.(int)] = len(p.items); p.items = append(p.items, x.(int)) }
func (p *pool) Pop() any {
	last := p.items[len(p.items)-1]
	p.items = p.items[:len(p.items)-1]
	return last
}

// pick returns the best node with room for one instance of d: the first,
// in heap order, without an instance of d, else the one with the fewest.
// Nodes are popped until one fits and holds none of d, so a pick costs
// O(log n) unless many nodes are short of vCPUs or disk or already hold d.
func (p *pool) pick(d Deployment, perNode map[int]int) (int, bool) {
	aside := p.aside[:0]
	best, found := -1, false
	for p.Len() > 0 {
		i := p.items[0]
		if p.c.freeMem(i) < d.MemoryMiB {
			break // the top has the most free memory: nobody fits
		}
		heap.Pop(p)
		aside = append(aside, i)
		if p.c.freeCPU(i) < d.VCPUs || p.c.freeDisk(i) < d.DiskMiB {
			continue
		}
		if perNode[i] == 0 {
			best, found = i, true
			break
		}
		if best < 0 || perNode[i] < perNode[best] {
			best = i
		}
	}
	for _, i := range aside {
		heap.Push(p, i)
	}
	p.aside = aside
	return best, found || best >= 0
}
