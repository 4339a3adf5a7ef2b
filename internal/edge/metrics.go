package edge

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// statsCollector exposes the edge's counters (Stats) to Prometheus at
// scrape time, so the request path keeps its plain atomic adds and pays
// nothing for metrics.
type statsCollector struct {
	e              *Edge
	responses      *prometheus.Desc
	upstreamErrors *prometheus.Desc
	retries        *prometheus.Desc
	upstreamDials  *prometheus.Desc
	noRoute        *prometheus.Desc
	refused        *prometheus.Desc
	shipDropped    *prometheus.Desc
	wakes          *prometheus.Desc
	wakeFailures   *prometheus.Desc
	wakeTimeouts   *prometheus.Desc
	wakeOverflow   *prometheus.Desc
	held           *prometheus.Desc
}

func newStatsCollector(e *Edge) *statsCollector {
	return &statsCollector{
		e: e,
		responses: prometheus.NewDesc("zeitwork_edge_responses_total",
			"Responses by status class (1xx to 5xx); a client that left before its answer counts as 4xx.",
			[]string{"class"}, nil),
		upstreamErrors: prometheus.NewDesc("zeitwork_edge_upstream_errors_total",
			"Failed attempts to reach an instance (dial, reset, malformed response), retried or not.", nil, nil),
		retries: prometheus.NewDesc("zeitwork_edge_retries_total",
			"Requests sent again to another instance after a failed attempt.", nil, nil),
		upstreamDials: prometheus.NewDesc("zeitwork_edge_upstream_dials_total",
			"Tunnel connections opened to node agents; growing faster than traffic means kept-alive connections are not reused.", nil, nil),
		noRoute: prometheus.NewDesc("zeitwork_edge_no_route_total",
			"Requests for hosts without a route (also counted in 4xx).", nil, nil),
		refused: prometheus.NewDesc("zeitwork_edge_refused_total",
			"Requests and connections refused to protect the edge or an app, by reason (also counted in their status class).",
			[]string{"reason"}, nil),
		shipDropped: prometheus.NewDesc("zeitwork_edge_log_lines_dropped_total",
			"Access log lines not shipped to the operator because too many were waiting (--ship-logs only).", nil, nil),
		wakes: prometheus.NewDesc("zeitwork_edge_wakes_total",
			"Calls to the operator to wake a deployment scaled to zero (one per deployment, however many requests wait).", nil, nil),
		wakeFailures: prometheus.NewDesc("zeitwork_edge_wake_failures_total",
			"Wake calls the operator refused or did not answer; their held requests got 503.", nil, nil),
		wakeTimeouts: prometheus.NewDesc("zeitwork_edge_wake_timeouts_total",
			"Held requests answered 503 because no instance became healthy within the wake timeout.", nil, nil),
		wakeOverflow: prometheus.NewDesc("zeitwork_edge_wake_overflow_total",
			"Requests refused (503) because their deployment already had the most requests held while it wakes.", nil, nil),
		held: prometheus.NewDesc("zeitwork_edge_held_requests",
			"Requests held now while their deployment wakes from zero.", nil, nil),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.responses
	ch <- c.upstreamErrors
	ch <- c.retries
	ch <- c.upstreamDials
	ch <- c.noRoute
	ch <- c.refused
	ch <- c.shipDropped
	ch <- c.wakes
	ch <- c.wakeFailures
	ch <- c.wakeTimeouts
	ch <- c.wakeOverflow
	ch <- c.held
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Stats()
	for k := 1; k < len(s.Responses); k++ {
		ch <- prometheus.MustNewConstMetric(c.responses, prometheus.CounterValue, float64(s.Responses[k]), strconv.Itoa(k)+"xx")
	}
	ch <- prometheus.MustNewConstMetric(c.upstreamErrors, prometheus.CounterValue, float64(s.UpstreamErrors))
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(s.Retries))
	ch <- prometheus.MustNewConstMetric(c.upstreamDials, prometheus.CounterValue, float64(s.UpstreamDials))
	ch <- prometheus.MustNewConstMetric(c.noRoute, prometheus.CounterValue, float64(s.NoRoute))
	for reason, n := range s.Refused {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(c.wakes, prometheus.CounterValue, float64(s.Wakes))
	ch <- prometheus.MustNewConstMetric(c.wakeFailures, prometheus.CounterValue, float64(s.WakeFailures))
	ch <- prometheus.MustNewConstMetric(c.wakeTimeouts, prometheus.CounterValue, float64(s.WakeTimeouts))
	ch <- prometheus.MustNewConstMetric(c.wakeOverflow, prometheus.CounterValue, float64(s.WakeOverflow))
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(s.Held))
	if sh := c.e.cfg.Ship; sh != nil {
		ch <- prometheus.MustNewConstMetric(c.shipDropped, prometheus.CounterValue, float64(sh.Dropped()))
	}
}

// newDurationHistogram is the request duration histogram. Observing costs
// two clock reads and a few atomic adds, no allocation (README.md, Metrics).
func newDurationHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "zeitwork_edge_request_duration_seconds",
		Help:    "Time from the request's arrival at the edge to the end of its response, upgrades excepted.",
		Buckets: durationBuckets,
	})
}

// durationBuckets are the request duration histograms' buckets, in seconds.
var durationBuckets = []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// registerMetrics registers the edge's collectors in reg. It fails only if
// reg already holds metrics of the same names (two edges in one registry).
func (e *Edge) registerMetrics(reg prometheus.Registerer) error {
	e.duration = newDurationHistogram()
	e.projects = newProjectVecs()
	e.wakeLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "zeitwork_edge_wake_duration_seconds",
		Help:    "Time from the first request held for a deployment scaled to zero to the route table giving it a healthy instance.",
		Buckets: []float64{.25, .5, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60},
	})
	cs := append([]prometheus.Collector{newStatsCollector(e), e.duration, e.wakeLatency}, e.projects.collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var _ prometheus.Collector = (*statsCollector)(nil)
