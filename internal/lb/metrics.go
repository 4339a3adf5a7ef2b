package lb

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes the load balancer's counters at scrape time, so that
// the connection path keeps plain atomic adds.
type collector struct {
	l                                    *LB
	accepted, open, bytes, refused       *prometheus.Desc
	retries, spilled                     *prometheus.Desc
	backendUp, backendActive, backendTot *prometheus.Desc
	backendFails                         *prometheus.Desc
}

func newCollector(l *LB) *collector {
	be := []string{"backend", "region"}
	return &collector{
		l: l,
		accepted: prometheus.NewDesc("zeitwork_lb_connections_total",
			"Client connections accepted (refused ones included).", nil, nil),
		open: prometheus.NewDesc("zeitwork_lb_connections_open",
			"Client connections being relayed.", nil, nil),
		bytes: prometheus.NewDesc("zeitwork_lb_bytes_total",
			"Bytes relayed: in is client to edge, out is edge to client (counted as copies end or idle periods pass).",
			[]string{"direction"}, nil),
		refused: prometheus.NewDesc("zeitwork_lb_refused_total",
			"Client connections closed unserved: max_conns (over the cap) or no_edge (no edge reachable in any region).",
			[]string{"reason"}, nil),
		retries: prometheus.NewDesc("zeitwork_lb_retries_total",
			"Connections tried on another edge after one could not be reached.", nil, nil),
		spilled: prometheus.NewDesc("zeitwork_lb_spilled_total",
			"Connections sent to another region's edge because none of this region's was healthy.", nil, nil),
		backendUp: prometheus.NewDesc("zeitwork_lb_backend_up",
			"1 when the edge port passes its health checks.", be, nil),
		backendActive: prometheus.NewDesc("zeitwork_lb_backend_connections_open",
			"Connections being relayed to the edge port.", be, nil),
		backendTot: prometheus.NewDesc("zeitwork_lb_backend_connections_total",
			"Connections relayed to the edge port.", be, nil),
		backendFails: prometheus.NewDesc("zeitwork_lb_backend_connect_failures_total",
			"Failed connection attempts to the edge port (each takes it out until its checks pass).", be, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := &c.l.stats
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.accepted, st.accepted.Load())
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(c.l.open.Load()))
	counter(c.bytes, st.bytesIn.Load(), "in")
	counter(c.bytes, st.bytesOut.Load(), "out")
	counter(c.refused, st.refusedCap.Load(), "max_conns")
	counter(c.refused, st.refusedNone.Load(), "no_edge")
	counter(c.retries, st.retries.Load())
	counter(c.spilled, st.spilled.Load())
	c.l.mu.Lock()
	all := c.l.all
	c.l.mu.Unlock()
	for _, b := range all {
		up := 0.0
		if b.up.Load() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.backendUp, prometheus.GaugeValue, up, b.addr, b.region)
		ch <- prometheus.MustNewConstMetric(c.backendActive, prometheus.GaugeValue, float64(b.active.Load()), b.addr, b.region)
		counter(c.backendTot, b.conns.Load(), b.addr, b.region)
		counter(c.backendFails, b.fails.Load(), b.addr, b.region)
	}
}
