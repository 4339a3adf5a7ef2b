package node

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zeitwork/zeitwork/internal/api"
)

func TestParseSmapsRollup(t *testing.T) {
	in := `55d0c6a00000-7ffc4c5fe000 ---p 00000000 00:00 0                          [rollup]
Rss:              222000 kB
Pss:              180500 kB
Pss_Anon:          90000 kB
Shared_Clean:      41000 kB
Shared_Dirty:       1000 kB
Private_Clean:     60000 kB
Private_Dirty:    120000 kB
Swap:                  0 kB
`
	var s usageSample
	if err := parseSmapsRollup(strings.NewReader(in), &s); err != nil {
		t.Fatal(err)
	}
	const kb = 1024
	if s.rss != 222000*kb || s.pss != 180500*kb || s.uss != 180000*kb || s.shared != 42000*kb {
		t.Fatalf("parsed %+v", s)
	}
	if err := parseSmapsRollup(strings.NewReader("nothing here\n"), &s); err == nil {
		t.Fatal("a file without Rss parsed")
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		bad      bool
	}{
		{name: "qemu", in: "4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194560 3000 0 0 0 1234 566 0 0 20 0 3 0 100 1 2 3",
			want: 18 * time.Second},
		{name: "name with spaces and parens", in: "7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 1 1",
			want: 100 * time.Millisecond},
		{name: "truncated", in: "7 (x) R 1 7", bad: true},
		{name: "no name", in: "garbage", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestCPUPercentOverAWindow(t *testing.T) {
	t0 := time.Now()
	a := usageSample{at: t0, cpu: time.Second}
	b := usageSample{at: t0.Add(10 * time.Second), cpu: time.Second + 50*time.Millisecond}
	if got := cpuPercent(a, b); got < 0.499 || got > 0.501 {
		t.Fatalf("cpu %.3f%%, want 0.5%%", got)
	}
	if got := cpuPercent(b, a); got != 0 {
		t.Fatalf("backwards window: %.3f", got)
	}
}

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
	if rep.State != api.InstanceHealthy || u.CPUPercent == nil || u.RSSBytes == 0 || u.USSBytes > u.RSSBytes ||
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
