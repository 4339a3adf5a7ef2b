package geodns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Checker keeps the health of every region's load balancers by TCP
// connect, and publishes a view the handler reads without locks. One
// failed check marks a load balancer down and one success up again, so a
// dead region leaves the answers within one interval (plus the TTL that
// resolvers cache them for).
type Checker struct {
	regions []Region
	port    uint16
	every   time.Duration
	timeout time.Duration
	log     *slog.Logger
	view    atomic.Pointer[view]
	// dial is net.Dialer's, replaced in tests of logic only.
	dial func(ctx context.Context, addr string) error
}

// view is the healthy load balancers of each region, by family.
type view struct {
	v4, v6 [][]netip.Addr
}

func (v *view) healthy(i int) bool { return len(v.v4[i])+len(v.v6[i]) > 0 }

// NewChecker starts with every load balancer healthy: until the first
// round ends (Run does it before anything else) nothing is known to be
// down.
func NewChecker(regions []Region, h Health, log *slog.Logger) *Checker {
	c := &Checker{regions: regions, port: h.Port, every: time.Duration(h.Interval), timeout: time.Duration(h.Timeout), log: log}
	c.dial = func(ctx context.Context, addr string) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err
	}
	all := make([][]bool, len(regions))
	for i, r := range regions {
		all[i] = make([]bool, len(r.LoadBalancers))
		for j := range all[i] {
			all[i][j] = true
		}
	}
	c.publish(all)
	return c
}

// View is the current health.
func (c *Checker) View() *view { return c.view.Load() }

// Run checks every load balancer each interval until ctx ends.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		c.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round checks every load balancer once, all at the same time, and
// publishes the outcome.
func (c *Checker) Round(ctx context.Context) {
	up := make([][]bool, len(c.regions))
	var wg sync.WaitGroup
	for i, r := range c.regions {
		up[i] = make([]bool, len(r.LoadBalancers))
		for j, a := range r.LoadBalancers {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, c.timeout)
				defer cancel()
				err := c.dial(cctx, net.JoinHostPort(a.String(), strconv.Itoa(int(c.port))))
				up[i][j] = err == nil
				if err != nil && ctx.Err() == nil {
					c.log.Debug("load balancer down", "region", r.Name, "addr", a, "err", err)
				}
			})
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	c.logChanges(up)
	c.publish(up)
}

func (c *Checker) logChanges(up [][]bool) {
	old := c.View()
	for i, r := range c.regions {
		was := old.healthy(i)
		now := slicesAny(up[i])
		if was != now {
			c.log.Info("region health changed", "region", r.Name, "healthy", now)
		}
	}
}

func slicesAny(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

func (c *Checker) publish(up [][]bool) {
	v := &view{v4: make([][]netip.Addr, len(c.regions)), v6: make([][]netip.Addr, len(c.regions))}
	for i, r := range c.regions {
		for j, a := range r.LoadBalancers {
			if !up[i][j] {
				continue
			}
			if a.Unmap().Is4() {
				v.v4[i] = append(v.v4[i], a.Unmap())
			} else {
				v.v6[i] = append(v.v6[i], a)
			}
		}
	}
	c.view.Store(v)
}
