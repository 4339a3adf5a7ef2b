package edge

import (
	"slices"
	"sync/atomic"
	"time"
)

// nodeHealth is what an edge remembers of one node agent across requests:
// until when it is suspect, after a failed dial or a broken tunnel. Shared by every backend
// on the node.
type nodeHealth struct {
	until atomic.Int64 // unix nanoseconds; 0: not suspect
}

// suspect reports whether a dial to the node failed in the last
// Config.SuspectFor. It reads the clock only for a node that failed.
func (n *nodeHealth) suspect() bool {
	u := n.until.Load()
	return u != 0 && time.Now().UnixNano() < u
}

// failed marks the node suspect for d (never, for d <= 0).
func (n *nodeHealth) failed(d time.Duration) {
	if d > 0 {
		n.until.Store(time.Now().Add(d).UnixNano())
	}
}

// ok clears a suspicion once a request through the node succeeded.
func (n *nodeHealth) ok() {
	if n.until.Load() != 0 {
		n.until.Store(0)
	}
}

// nodeKey names a backend's node: its ID, or its tunnel address when the
// operator sends none.
func nodeKey(node, addr string) string {
	if node != "" {
		return node
	}
	return addr
}

// regionRank orders regions for this edge: its own first (0), then
// Config.RegionOrder as listed, then every other region. An edge without
// a region has no preference.
func (c *Config) regionRank(region string) int {
	if c.Region == "" && len(c.RegionOrder) == 0 {
		return 0
	}
	if region != "" && region == c.Region {
		return 0
	}
	if i := slices.Index(c.RegionOrder, region); i >= 0 && region != "" {
		return 1 + i
	}
	return 1 + len(c.RegionOrder)
}

// tierBackends sorts bs by region preference (stable: the operator's order
// within a region) and returns the end index of each tier of equal rank.
func (c *Config) tierBackends(bs []*backend) []int {
	slices.SortStableFunc(bs, func(a, b *backend) int { return c.regionRank(a.region) - c.regionRank(b.region) })
	var tiers []int
	for i := 1; i <= len(bs); i++ {
		if i == len(bs) || c.regionRank(bs[i].region) != c.regionRank(bs[i-1].region) {
			tiers = append(tiers, i)
		}
	}
	return tiers
}

// failedNodes are the nodes a dial to failed within one request: its
// remaining attempts skip their other instances. A fixed array, so that
// it lives on the stack; past its size, nodes are no longer recorded.
type failedNodes struct {
	n     int
	nodes [8]*nodeHealth
}

func (f *failedNodes) add(n *nodeHealth) {
	if f.n < len(f.nodes) {
		f.nodes[f.n] = n
		f.n++
	}
}

func (f *failedNodes) has(n *nodeHealth) bool {
	for _, m := range f.nodes[:f.n] {
		if m == n {
			return true
		}
	}
	return false
}
