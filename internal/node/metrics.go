package node

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/api"
)

// metrics are the node agent's counters and histograms. The gauge of
// instances by state is read from the supervisors at scrape time
// (stateCollector), so it can never drift from what the agent runs.
type metrics struct {
	failures     prometheus.Counter
	restarts     prometheus.Counter
	boot         prometheus.Histogram
	imagePrepare prometheus.Histogram
	logsDropped  *prometheus.CounterVec
	starts       *prometheus.CounterVec
}

// newMetrics creates the agent's metrics; Run registers them.
func newMetrics() *metrics {
	return &metrics{
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zeitwork_node_instance_failures_total",
			Help: "Attempts to run an instance that ended in failure (boot error, app exit, failed health checks).",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zeitwork_node_instance_restarts_total",
			Help: "Instances booted again after a failure.",
		}),
		boot: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "zeitwork_node_boot_duration_seconds",
			Help:    "Time from starting an instance's VM to its first passing health check.",
			Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 20, 30, 60},
		}),
		imagePrepare: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "zeitwork_node_image_prepare_duration_seconds",
			Help:    "Time to get an instance's root disk ready: pull, unpack and build (cached by digest), then the VM's private copy.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		logsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zeitwork_node_log_lines_dropped_total",
			Help: "App output not shipped: lines over an instance's rate limit, too long or queued while the operator was unreachable, and bytes skipped when a log file hit its cap.",
		}, []string{"reason"}),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zeitwork_node_vm_starts_total",
			Help: "VMs started, by how: restore (from a VM template), boot, and restore_failed (a template failed; the VM then booted).",
		}, []string{"how"}),
	}
}

// registerMetrics registers the agent's metrics in reg and returns the
// function that unregisters them. They live as long as Run, like a
// process's: an agent started again in the same process (the platform's
// StopAgent and StartAgent) registers its own, from zero, as a restarted
// agent process would.
func (a *Agent) registerMetrics(reg prometheus.Registerer) (unregister func(), err error) {
	var done []prometheus.Collector
	unregister = func() {
		for _, c := range done {
			reg.Unregister(c)
		}
	}
	m := a.metrics
	for _, c := range []prometheus.Collector{m.failures, m.restarts, m.boot, m.imagePrepare, m.logsDropped, m.starts, newStateCollector(a), newUsageCollector(a)} {
		if err := reg.Register(c); err != nil {
			unregister()
			return nil, fmt.Errorf("register metrics: %w", err)
		}
		done = append(done, c)
	}
	return unregister, nil
}

// supervisorStates are the states zeitwork_node_instances reports, always
// present (at zero) so that series do not vanish.
var supervisorStates = []string{api.InstanceStarting, api.InstanceHealthy, api.InstanceFailed}

// stateCollector counts the agent's instances by the state their
// supervisor last reported.
type stateCollector struct {
	a    *Agent
	desc *prometheus.Desc
}

func newStateCollector(a *Agent) *stateCollector {
	return &stateCollector{a: a, desc: prometheus.NewDesc("zeitwork_node_instances",
		"Instances on this node by supervisor state (starting, healthy, failed).", []string{"state"}, nil)}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{}
	c.a.mu.Lock()
	for _, s := range c.a.sups {
		counts[s.currentState()]++
	}
	c.a.mu.Unlock()
	for _, st := range supervisorStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}

var _ prometheus.Collector = (*stateCollector)(nil)

// usageCollector reports each instance's VM memory and CPU from its
// supervisor's latest sample (taken every Config.UsageInterval while the
// instance is healthy), so a scrape never walks hundreds of page tables.
type usageCollector struct {
	a                *Agent
	mem, cpu, cpuPct *prometheus.Desc
}

func newUsageCollector(a *Agent) *usageCollector {
	labels := []string{"instance_id", "deployment", "project"}
	return &usageCollector{a: a,
		mem: prometheus.NewDesc("zeitwork_node_instance_memory_bytes",
			"Host memory of an instance's VMM process by kind: rss (all resident), uss (only this VM's), pss (shared pages divided among their users), shared (mapped with other processes).",
			append([]string{"kind"}, labels...), nil),
		cpu: prometheus.NewDesc("zeitwork_node_instance_cpu_seconds_total",
			"Host CPU time (user and system, all threads) of an instance's VMM process.", labels, nil),
		cpuPct: prometheus.NewDesc("zeitwork_node_instance_cpu_percent",
			"Host CPU of an instance's VMM process over the last sampling window, in percent of one core.", labels, nil),
	}
}

func (c *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mem
	ch <- c.cpu
	ch <- c.cpuPct
}

func (c *usageCollector) Collect(ch chan<- prometheus.Metric) {
	c.a.mu.Lock()
	sups := make([]*supervisor, 0, len(c.a.sups))
	for _, s := range c.a.sups {
		sups = append(sups, s)
	}
	c.a.mu.Unlock()
	for _, s := range sups {
		u := s.currentUsage()
		if u == nil {
			continue
		}
		l := u.labels
		for _, m := range []struct {
			kind string
			v    uint64
		}{{"rss", u.usage.RSSBytes}, {"pss", u.usage.PSSBytes}, {"uss", u.usage.USSBytes}, {"shared", u.usage.SharedBytes}} {
			ch <- prometheus.MustNewConstMetric(c.mem, prometheus.GaugeValue, float64(m.v), append([]string{m.kind}, l...)...)
		}
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, u.cpu.Seconds(), l...)
		if p := u.usage.CPUPercent; p != nil {
			ch <- prometheus.MustNewConstMetric(c.cpuPct, prometheus.GaugeValue, *p, l...)
		}
	}
}

var _ prometheus.Collector = (*usageCollector)(nil)
