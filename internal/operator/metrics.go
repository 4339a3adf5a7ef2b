package operator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Kinds of deployment failure, the label of zeitwork_deployments_failed_total.
const (
	failImage    = "image"    // the image could not be resolved or has no command
	failInstance = "instance" // instances failed permanently or too often
	failTimeout  = "timeout"  // not ready within DeployTimeout
)

// metrics are the operator's own counters and histograms. The gauges of
// deployments and instances come from stateCollector at scrape time.
type metrics struct {
	reconcile   prometheus.Histogram
	requests    *prometheus.CounterVec // route, class
	failed      *prometheus.CounterVec // kind
	logsDropped prometheus.Counter
	auditFailed prometheus.Counter
	// Scale to zero: deployments put to sleep and woken by this operator.
	sleeps prometheus.Counter
	wakes  prometheus.Counter
}

// newMetrics creates the operator's metrics and registers them in reg; a nil
// reg keeps them unregistered, so that nothing needs to check for nil.
func newMetrics(reg prometheus.Registerer, pool *pgxpool.Pool, log *slog.Logger) (*metrics, error) {
	m := &metrics{
		reconcile: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "zeitwork_operator_reconcile_duration_seconds",
			Help:    "Duration of reconcile passes run by this operator.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zeitwork_operator_api_requests_total",
			Help: "Requests to the operator's API and registry, by route pattern and status class.",
		}, []string{"route", "class"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zeitwork_deployments_failed_total",
			Help: "Deployments this operator marked failed, by kind (image, instance, timeout).",
		}, []string{"kind"}),
		logsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zeitwork_operator_log_lines_dropped_total",
			Help: "App log lines nodes shipped that were not stored: over their project's rate limit.",
		}),
		auditFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zeitwork_operator_audit_write_failures_total",
			Help: "Audit log entries this operator failed to write (each is logged as \"audit log write failed\").",
		}),
		sleeps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zeitwork_operator_scaled_to_zero_total",
			Help: "Deployments this operator scaled to zero after their idle timeout.",
		}),
		wakes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zeitwork_operator_wakes_total",
			Help: "Sleeping deployments this operator woke for an edge (repeated wake calls for an awake deployment are not counted).",
		}),
	}
	for _, k := range []string{failImage, failInstance, failTimeout} {
		m.failed.WithLabelValues(k) // present at zero before the first failure
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.reconcile, m.requests, m.failed, m.logsDropped, m.auditFailed, m.sleeps, m.wakes, newStateCollector(pool, log)} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// instrument counts every request by the pattern that matched it (a
// bounded set, unlike paths) and its status class.
func (m *metrics) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		mux.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		// ServeMux sets r.Pattern on the request it was given.
		m.requests.WithLabelValues(r.Pattern, strconv.Itoa(sw.code/100)+"xx").Inc()
	})
}

// statusWriter remembers the status code. It implements Flush, which the
// log stream needs, and Unwrap for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// stateCollector counts deployments by status and instances by state in
// the database when scraped. Reading at scrape time, rather than keeping
// gauges refreshed by reconcile passes, gives the same answer on every
// operator replica (only the one holding the lock reconciles) and is never
// stale; the two GROUP BY queries cost little next to a reconcile pass.
type stateCollector struct {
	pool        *pgxpool.Pool
	log         *slog.Logger
	deployments *prometheus.Desc
	instances   *prometheus.Desc
}

func newStateCollector(pool *pgxpool.Pool, log *slog.Logger) *stateCollector {
	return &stateCollector{
		pool: pool, log: log,
		deployments: prometheus.NewDesc("zeitwork_deployments",
			"Deployments by status (deploying, ready, failed, stopped).", []string{"status"}, nil),
		instances: prometheus.NewDesc("zeitwork_instances",
			"Instances not yet stopped, by the state their node reported (pending, starting, healthy, failed, lost).",
			[]string{"state"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.deployments
	ch <- c.instances
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	// Collect has no context; a scrape must not hang on a stuck database.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.collect(ctx, ch, c.deployments, `SELECT status, count(*) FROM deployments GROUP BY status`,
		api.StatusDeploying, api.StatusReady, api.StatusFailed, api.StatusStopped)
	// Stopped instances are history, and would only grow.
	c.collect(ctx, ch, c.instances, `SELECT state, count(*) FROM instances WHERE state <> 'stopped' GROUP BY state`,
		api.InstancePending, api.InstanceStarting, api.InstanceHealthy, api.InstanceFailed, api.InstanceLost)
}

// collect sends one gauge per value of known (zero when absent, so that
// series do not vanish) from a query returning (label, count) rows.
func (c *stateCollector) collect(ctx context.Context, ch chan<- prometheus.Metric, desc *prometheus.Desc, query string, known ...string) {
	counts, err := c.count(ctx, query)
	if err != nil {
		c.log.Warn("metrics: count from database", "err", err)
		ch <- prometheus.NewInvalidMetric(desc, err)
		return
	}
	for _, k := range known {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[k]), k)
		delete(counts, k)
	}
	for k, n := range counts { // a value added to the schema later
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), k)
	}
}

func (c *stateCollector) count(ctx context.Context, query string) (map[string]int64, error) {
	rows, err := c.pool.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

var (
	_ prometheus.Collector = (*stateCollector)(nil)
	_ http.Flusher         = (*statusWriter)(nil)
)
