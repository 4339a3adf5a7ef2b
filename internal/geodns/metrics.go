package geodns

import (
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics (README.md). Counters are
// resolved once here, not per query, to keep label lookups off the hot
// path.
type metrics struct {
	rcodes   map[int]prometheus.Counter
	other    prometheus.Counter
	regions  []prometheus.Counter
	failOpen prometheus.Counter
	dropped  [numKinds]prometheus.Counter
	slipped  [numKinds]prometheus.Counter
	// answers and current outlive a reload (Live): the new handler gets
	// the same series, and the healthy-regions gauge reads the handler
	// in force.
	answers *prometheus.CounterVec
	current *atomic.Pointer[Handler]
}

// adopt returns m for h, a handler that replaces m's (Live.Reload): the
// same counters, per-region ones for h's regions.
func (m *metrics) adopt(h *Handler) *metrics {
	if m == nil {
		return nil
	}
	n := *m
	n.regions = nil
	for _, r := range h.regions.list {
		n.regions = append(n.regions, m.answers.WithLabelValues(r.Name))
	}
	m.current.Store(h)
	return &n
}

// Register adds the server's metrics to reg; without it none are kept.
func (h *Handler) Register(reg prometheus.Registerer) error {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zeitwork_dns_queries_total", Help: "Queries answered, by response code.",
	}, []string{"rcode"})
	answers := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zeitwork_dns_region_answers_total", Help: "A/AAAA answers, by the region whose load balancers they gave.",
	}, []string{"region"})
	failOpen := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zeitwork_dns_fail_open_total", Help: "A/AAAA answers given while no region had a healthy load balancer.",
	})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zeitwork_dns_rrl_dropped_total", Help: "UDP responses dropped by response rate limiting (in log-only mode: that would have been), by kind.",
	}, []string{"kind"})
	slipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zeitwork_dns_rrl_slipped_total", Help: "UDP responses rate limited and sent truncated instead (in log-only mode: that would have been), by kind.",
	}, []string{"kind"})
	current := &atomic.Pointer[Handler]{}
	current.Store(h)
	healthy := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zeitwork_dns_healthy_regions", Help: "Regions with at least one healthy load balancer.",
	}, func() float64 {
		h := current.Load()
		v, n := h.health.View(), 0
		for i := range h.regions.list {
			if v.healthy(i) {
				n++
			}
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{queries, answers, failOpen, healthy, dropped, slipped} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	m := &metrics{rcodes: map[int]prometheus.Counter{}, other: queries.WithLabelValues("other"), failOpen: failOpen,
		answers: answers, current: current}
	for _, rc := range []int{dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeNameError, dns.RcodeNotImplemented, dns.RcodeRefused, dns.RcodeBadVers} {
		m.rcodes[rc] = queries.WithLabelValues(dns.RcodeToString[rc])
	}
	for _, r := range h.regions.list {
		m.regions = append(m.regions, answers.WithLabelValues(r.Name))
	}
	for k, name := range kindNames {
		m.dropped[k] = dropped.WithLabelValues(name)
		m.slipped[k] = slipped.WithLabelValues(name)
	}
	h.metrics = m
	return nil
}

func (m *metrics) query(rcode int) {
	if m == nil {
		return
	}
	if c, ok := m.rcodes[rcode]; ok {
		c.Inc()
		return
	}
	m.other.Inc()
}

func (m *metrics) region(i int, healthy bool) {
	if m == nil {
		return
	}
	m.regions[i].Inc()
	if !healthy {
		m.failOpen.Inc()
	}
}

func (m *metrics) limited(k respKind, v verdict) {
	if m == nil {
		return
	}
	if v == verdictSlip {
		m.slipped[k].Inc()
		return
	}
	m.dropped[k].Inc()
}
