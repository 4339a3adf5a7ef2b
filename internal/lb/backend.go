package lb

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// backend is one edge port: where a listener's connections may go.
type backend struct {
	addr   string // host:port
	region string
	// target is addr resolved: at once for an IP address, by the checks
	// for a host name (nil until the first one connects).
	target atomic.Pointer[netip.AddrPort]

	up     atomic.Bool
	active atomic.Int64 // open relayed connections
	conns  atomic.Uint64
	fails  atomic.Uint64 // failed connection attempts

	mu     sync.Mutex // guards streak
	streak int        // good (>0) or failed (<0) checks in a row
}

func newBackend(addr, region string) *backend {
	b := &backend{addr: addr, region: region}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		b.setTarget(ap)
	}
	b.up.Store(true) // like HAProxy: up until checks say otherwise
	return b
}

// setTarget records the address connections to b go to.
func (b *backend) setTarget(ap netip.AddrPort) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if old := b.target.Load(); old == nil || *old != ap {
		b.target.Store(&ap)
	}
}

// report records a check's result and reports whether the backend's state
// changed: Fall failures in a row take it out, Rise successes bring it back.
func (b *backend) report(ok bool, h Health) (changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case ok && b.streak < 0, !ok && b.streak > 0:
		b.streak = 0
	}
	if ok {
		b.streak++
		if !b.up.Load() && b.streak >= h.Rise {
			b.up.Store(true)
			return true
		}
		return false
	}
	b.streak--
	if b.up.Load() && -b.streak >= h.Fall {
		b.up.Store(false)
		return true
	}
	return false
}

// dialFailed takes the backend out at once: a refused or timed-out
// connection is stronger evidence than a missed check, and the checks
// bring it back after Rise good ones.
func (b *backend) dialFailed() (changed bool) {
	b.fails.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.streak = 0
	return b.up.Swap(false)
}

// pool is the backends of one listener. Its lists are replaced as a whole
// by a reload (LB.Reload), so that a connection picks from one
// configuration, old or new, never a mix.
type pool struct {
	state atomic.Pointer[poolState]
}

// poolState is a pool's backends by region in order of preference: this
// load balancer's own region first.
type poolState struct {
	ownRegion string // this load balancer's region
	regions   [][]*backend
	least     bool
	next      []atomic.Uint64 // round-robin position per region
}

// pick returns the backend for a new connection, skipping those in
// tried: from the first region that has a healthy one, round-robin or
// the one with fewest open connections. Nil when none is left.
func (p *pool) pick(tried []*backend) *backend {
	st := p.state.Load()
	for i, bs := range st.regions {
		if b := st.pickIn(i, bs, tried); b != nil {
			return b
		}
	}
	return nil
}

func (p *poolState) pickIn(region int, bs []*backend, tried []*backend) *backend {
	n := len(bs)
	if n == 0 {
		return nil
	}
	start := int(p.next[region].Add(1) % uint64(n))
	var best *backend
	for k := range n {
		b := bs[(start+k)%n]
		if !b.up.Load() || contains(tried, b) {
			continue
		}
		if !p.least {
			return b
		}
		if best == nil || b.active.Load() < best.active.Load() {
			best = b
		}
	}
	return best
}

func contains(bs []*backend, b *backend) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

func (p *pool) own() string { return p.state.Load().ownRegion }
