package lb

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
)

// build sets every pool's backends from cfg's regions and returns them
// all. A backend of old (same address and region) is kept, with its health
// and open connections, so that a reload neither resets an edge's state
// nor touches the connections relayed to it.
func (l *LB) build(cfg Config, old []*backend) []*backend {
	type key struct{ addr, region string }
	have := make(map[key]*backend, len(old))
	for _, b := range old {
		have[key{b.addr, b.region}] = b
	}
	var all []*backend
	order := regionOrder(cfg)
	for i, li := range cfg.Listeners {
		st := &poolState{ownRegion: cfg.Region, least: cfg.Balance == LeastConn, next: make([]atomic.Uint64, len(order))}
		for _, r := range order {
			var bs []*backend
			for _, host := range r.Edges {
				k := key{hostPort(host, li.EdgePort), r.Name}
				b := have[k]
				if b == nil {
					b = newBackend(k.addr, k.region)
					have[k] = b
				}
				bs = append(bs, b)
				all = append(all, b)
			}
			st.regions = append(st.regions, bs)
		}
		l.pools[i].state.Store(st)
	}
	return all
}

// errRestart is a reload that changes more than the edge lists.
var errRestart = errors.New("only region, regions and balance change on a reload; restart the lb for the other changes (listeners, health, timeouts, proxy_protocol, max_conns)")

// Reload puts cfg's edge lists, own region and balancing in force (a
// SIGHUP of `zeitwork lb`): new connections pick from them at once, open
// connections go on where they are, edges that stay keep their health,
// new ones are checked and removed ones no longer. cfg must come from
// ParseConfig. On an error nothing changes.
func (l *LB) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !sameFixed(l.cur, cfg) {
		return errRestart
	}
	old := l.all
	l.all = l.build(cfg, old)
	l.cur = cfg
	if l.checkCtx != nil {
		l.syncChecks()
	}
	return nil
}

// sameFixed reports whether a and b agree on everything but what a reload
// may change.
func sameFixed(a, b Config) bool {
	a.Region, a.Regions, a.Balance = "", nil, ""
	b.Region, b.Regions, b.Balance = "", nil, ""
	return reflect.DeepEqual(a, b)
}

// startChecks starts a check loop per backend under ctx (Serve).
func (l *LB) startChecks(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checkCtx, l.checks = ctx, map[*backend]context.CancelFunc{}
	l.syncChecks()
}

// syncChecks runs one check loop per backend in l.all: it starts the
// missing ones and stops those of backends no longer configured (under mu).
func (l *LB) syncChecks() {
	want := make(map[*backend]bool, len(l.all))
	for _, b := range l.all {
		want[b] = true
		if l.checks[b] == nil {
			ctx, cancel := context.WithCancel(l.checkCtx)
			l.checks[b] = cancel
			go l.checkLoop(ctx, b)
		}
	}
	for b, cancel := range l.checks {
		if !want[b] {
			cancel()
			delete(l.checks, b)
		}
	}
}
