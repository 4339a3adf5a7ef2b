package lb

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// LB is a running load balancer: its backends' health and its open
// connections. Make one with New and run it with Serve.
type LB struct {
	cfg   Config // as started; Reload changes only cur's edge lists
	log   *slog.Logger
	pools []*pool // one per Config.Listeners entry

	mu       sync.Mutex                      // guards cur, all and checks
	cur      Config                          // the configuration in force
	all      []*backend                      // every pool's backends, for checks and metrics
	checks   map[*backend]context.CancelFunc // running check loops (while Serve runs)
	checkCtx context.Context                 // nil until Serve starts the checks

	open  atomic.Int64 // client connections being served
	stats stats

	loops  []*loop        // one per P, while Serve runs
	extra  []net.Listener // the loops' own sockets of the listeners (SO_REUSEPORT)
	loopWG sync.WaitGroup
}

// stats are counters for metrics (metrics.go).
type stats struct {
	accepted, spilled, retries atomic.Uint64
	refusedCap, refusedNone    atomic.Uint64
	bytesIn, bytesOut          atomic.Uint64 // client to edge, edge to client
}

// New checks cfg (defaults as from ParseConfig must be applied) and
// registers the load balancer's metrics into reg when it is not nil.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*LB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &LB{cfg: cfg, log: log, cur: cfg}
	for range cfg.Listeners {
		l.pools = append(l.pools, &pool{})
	}
	l.all = l.build(cfg, nil)
	if reg != nil {
		if err := reg.Register(newCollector(l)); err != nil {
			return nil, fmt.Errorf("register lb metrics: %w", err)
		}
	}
	return l, nil
}

// regionOrder is cfg's regions with its own first, the rest as listed.
func regionOrder(cfg Config) []Region {
	var own, rest []Region
	for _, r := range cfg.Regions {
		if r.Name == cfg.Region {
			own = append(own, r)
		} else {
			rest = append(rest, r)
		}
	}
	return append(own, rest...)
}

// Listen opens cfg's listeners, in order.
func Listen(cfg Config) ([]net.Listener, error) {
	var lns []net.Listener
	for _, li := range cfg.Listeners {
		ln, err := reusePort.Listen(context.Background(), "tcp", li.Listen)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return nil, fmt.Errorf("lb listen %s: %w", li.Listen, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Serve relays connections from lns (one per Config.Listeners entry, in
// order; Listen opens them) and checks the backends until ctx ends. Then
// it drains: it stops accepting, lets open connections finish for up to
// DrainTimeout, closes the rest and returns.
func (l *LB) Serve(ctx context.Context, lns []net.Listener) error {
	if len(lns) != len(l.pools) {
		return fmt.Errorf("lb serve: %d listeners for %d configured", len(lns), len(l.pools))
	}
	if err := l.startLoops(lns); err != nil {
		return err
	}
	checks, stopChecks := context.WithCancel(context.Background())
	defer stopChecks()
	l.startChecks(checks)
	<-ctx.Done()
	for _, ln := range lns {
		ln.Close()
	}
	l.closeExtra()
	for _, lp := range l.loops {
		lp.closeListeners()
	}
	l.drain(time.Duration(l.cfg.DrainTimeout))
	l.stopLoops()
	return nil
}

// startLoops starts one loop per P (GOMAXPROCS), as many as can run at
// once, each accepting on its own socket of every listener.
func (l *LB) startLoops(lns []net.Listener) error {
	l.loops, l.extra = nil, nil
	var err error
	for i := range runtime.GOMAXPROCS(0) {
		own, exclusive := loopListeners(i, lns)
		if !exclusive && i > 0 {
			l.extra = append(l.extra, own...)
		}
		var lp *loop
		lp, err = newLoop(l)
		if err != nil {
			break
		}
		l.loops = append(l.loops, lp)
		for j, ln := range own {
			if err = lp.listen(ln, l.pools[j], exclusive); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		for _, lp := range l.loops {
			lp.closeListenerFDs()
			unix.Close(lp.epfd)
			unix.Close(lp.evfd)
		}
		l.loops = nil
		l.closeExtra()
		return err
	}
	for _, lp := range l.loops {
		l.loopWG.Go(lp.run)
	}
	return nil
}

// closeExtra closes the loops' own listening sockets.
func (l *LB) closeExtra() {
	for _, ln := range l.extra {
		ln.Close()
	}
	l.extra = nil
}

// stopLoops ends the loops, with no connection left, and waits for them.
func (l *LB) stopLoops() {
	for _, lp := range l.loops {
		lp.shutdown()
	}
	l.loopWG.Wait()
}

// drain waits up to d for open connections to finish, then closes those
// left and waits until they are.
func (l *LB) drain(d time.Duration) {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for l.open.Load() > 0 && time.Now().Before(deadline) {
		<-tick.C
	}
	if n := l.open.Load(); n > 0 {
		l.log.Warn("lb drain deadline passed; closing connections", "open", n)
	}
	for _, lp := range l.loops {
		lp.closeAll()
	}
	for l.open.Load() > 0 {
		<-tick.C
	}
}

// Open is the number of client connections being served.
func (l *LB) Open() int { return int(l.open.Load()) }

// BackendStatus is one edge port as the load balancer sees it.
type BackendStatus struct {
	Addr   string `json:"addr"`
	Region string `json:"region"`
	Up     bool   `json:"up"`
	Active int64  `json:"active"`
}

// Backends lists every listener's backends and their state.
func (l *LB) Backends() []BackendStatus {
	l.mu.Lock()
	all := l.all
	l.mu.Unlock()
	out := make([]BackendStatus, 0, len(all))
	for _, b := range all {
		out = append(out, BackendStatus{Addr: b.addr, Region: b.region, Up: b.up.Load(), Active: b.active.Load()})
	}
	return out
}
