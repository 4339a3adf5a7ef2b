package lb

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	bs, port := startBackends(t, 22, "a", "b")
	cfg := testConfig(port, region("eu", bs...))
	reg := prometheus.NewRegistry()
	l, err := New(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	bs[1].stop()
	l.all[1].dialFailed()
	l.stats.bytesIn.Add(5)
	l.stats.refusedCap.Add(1)
	want := `
# HELP zeitwork_lb_backend_up 1 when the edge port passes its health checks.
# TYPE zeitwork_lb_backend_up gauge
zeitwork_lb_backend_up{backend="` + bs[0].addr + `",region="eu"} 1
zeitwork_lb_backend_up{backend="` + bs[1].addr + `",region="eu"} 0
# HELP zeitwork_lb_bytes_total Bytes relayed: in is client to edge, out is edge to client (counted as copies end or idle periods pass).
# TYPE zeitwork_lb_bytes_total counter
zeitwork_lb_bytes_total{direction="in"} 5
zeitwork_lb_bytes_total{direction="out"} 0
# HELP zeitwork_lb_refused_total Client connections closed unserved: max_conns (over the cap) or no_edge (no edge reachable in any region).
# TYPE zeitwork_lb_refused_total counter
zeitwork_lb_refused_total{reason="max_conns"} 1
zeitwork_lb_refused_total{reason="no_edge"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"zeitwork_lb_backend_up", "zeitwork_lb_bytes_total", "zeitwork_lb_refused_total"); err != nil {
		t.Fatal(err)
	}
}
