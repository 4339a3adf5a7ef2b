package node

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zeitwork/zeitwork/internal/api"
)

// A report goes to the operator only when the figures moved, or when its
// copy is old.
func TestUsageMoved(t *testing.T) {
	t0 := time.Now()
	cpu := func(f float64) *float64 { return &f }
	base := &api.InstanceUsage{USSBytes: 100 << 20, RSSBytes: 200 << 20, CPUPercent: cpu(0.5), SampledAt: t0}
	for _, tc := range []struct {
		name string
		cur  api.InstanceUsage
		want bool
	}{
		{"same", api.InstanceUsage{USSBytes: 100<<20 + 4096, RSSBytes: 200 << 20, CPUPercent: cpu(0.52), SampledAt: t0.Add(time.Minute)}, false},
		{"memory grew", api.InstanceUsage{USSBytes: 102 << 20, RSSBytes: 200 << 20, CPUPercent: cpu(0.5), SampledAt: t0}, true},
		{"cpu moved", api.InstanceUsage{USSBytes: 100 << 20, RSSBytes: 200 << 20, CPUPercent: cpu(0.7), SampledAt: t0}, true},
		{"stale", api.InstanceUsage{USSBytes: 100 << 20, RSSBytes: 200 << 20, CPUPercent: cpu(0.5), SampledAt: t0.Add(usageRefresh)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := usageMoved(base, &tc.cur); got != tc.want {
				t.Fatalf("moved = %v", got)
			}
		})
	}
	if !usageMoved(nil, base) {
		t.Fatal("the first sample was not worth a report")
	}
}

// A healthy instance reports its VMM process's usage with a CPU share and
// shows it in the metrics. The fake driver's VM is this test process, so
// the figures are real /proc readings.
func TestSupervisorReportsUsage(t *testing.T) {
	h := newHarness(t, boots)
	a := h.agent(t)
	a.cfg.UsageInterval = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	unregister, err := a.registerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	start(t, a, h.desired())
	var rep api.InstanceReport
	waitUntil(t, 10*time.Second, "a usage report", func() bool {
		h.op.mu.Lock()
		defer h.op.mu.Unlock()
		for _, r := range h.op.reports {
			if r.Usage != nil {
				rep = r
				return true
			}
		}
		return false
	})
	u := rep.Usage
	if rep.State != "" || u.CPUPercent == nil || u.RSSBytes == 0 || u.USSBytes > u.RSSBytes ||
		u.PSSBytes < u.USSBytes || u.PSSBytes > u.RSSBytes {
		t.Fatalf("usage report %+v (%+v)", rep, u)
	}
	if n := testutil.CollectAndCount(reg, "zeitwork_node_instance_memory_bytes"); n != 4 {
		t.Fatalf("%d memory series, want rss, pss, uss and shared", n)
	}
	if n := testutil.CollectAndCount(reg, "zeitwork_node_instance_cpu_seconds_total", "zeitwork_node_instance_cpu_percent"); n != 2 {
		t.Fatalf("%d cpu series", n)
	}
}
