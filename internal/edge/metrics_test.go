package edge

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestMetricsCountRequests sends requests of each outcome through a real
// edge and reads the counters back the way a scrape would.
func TestMetricsCountRequests(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	reg := prometheus.NewRegistry()
	te := startEdgeConfig(t, Config{Metrics: reg},
		apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}),
		// The first instance's node is down: every request there is retried.
		apiRoute("flaky.localhost", "f", "live",
			api.Backend{Instance: "i-a", NodeAddr: deadAddr(t)},
			api.Backend{Instance: "i-a", NodeAddr: node}),
	)
	for range 3 {
		te.get(t, "hello.localhost", "/")
	}
	te.get(t, "nope.localhost", "/")
	// Round-robin starts the two requests on different instances: one of
	// them meets the dead node first.
	te.get(t, "flaky.localhost", "/")
	te.get(t, "flaky.localhost", "/")

	want := `
# HELP zeitwork_edge_responses_total Responses by status class (1xx to 5xx); a client that left before its answer counts as 4xx.
# TYPE zeitwork_edge_responses_total counter
zeitwork_edge_responses_total{class="1xx"} 0
zeitwork_edge_responses_total{class="2xx"} 5
zeitwork_edge_responses_total{class="3xx"} 0
zeitwork_edge_responses_total{class="4xx"} 1
zeitwork_edge_responses_total{class="5xx"} 0
# HELP zeitwork_edge_no_route_total Requests for hosts without a route (also counted in 4xx).
# TYPE zeitwork_edge_no_route_total counter
zeitwork_edge_no_route_total 1
# HELP zeitwork_edge_retries_total Requests sent again to another instance after a failed attempt.
# TYPE zeitwork_edge_retries_total counter
zeitwork_edge_retries_total 1
# HELP zeitwork_edge_upstream_errors_total Failed attempts to reach an instance (dial, reset, malformed response), retried or not.
# TYPE zeitwork_edge_upstream_errors_total counter
zeitwork_edge_upstream_errors_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"zeitwork_edge_responses_total", "zeitwork_edge_no_route_total",
		"zeitwork_edge_retries_total", "zeitwork_edge_upstream_errors_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "zeitwork_edge_request_duration_seconds"); n != 1 {
		t.Fatalf("%d duration histograms", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "zeitwork_edge_request_duration_seconds" {
			if got := mf.GetMetric()[0].GetHistogram().GetSampleCount(); got != 6 {
				t.Fatalf("duration histogram has %d samples, want 6", got)
			}
		}
	}
}

// TestMetricsOffByDefault checks that an edge without a registry takes no
// clock readings for the histogram.
func TestMetricsOffByDefault(t *testing.T) {
	if e := New(Config{Source: NewStaticSource(routeTable(1))}, nil); e.duration != nil {
		t.Fatal("duration histogram without Config.Metrics")
	}
}

// TestMetricsCountRefusals: refusals reach the scrape by reason.
func TestMetricsCountRefusals(t *testing.T) {
	reg := prometheus.NewRegistry()
	routes := helloRoutes(t)
	routes[0].Limits = &api.RateLimits{Project: api.RateLimit{Rate: 0.1, Burst: 2}}
	te := startEdgeConfig(t, Config{Metrics: reg, MaxBodyBytes: 10}, routes...)
	te.get(t, "hello.localhost", "/")
	te.do(t, "POST", "hello.localhost", "/", strings.NewReader(strings.Repeat("x", 11))) // 413
	te.get(t, "hello.localhost", "/")                                                    // 429
	want := `
# HELP zeitwork_edge_refused_total Requests and connections refused to protect the edge or an app, by reason (also counted in their status class).
# TYPE zeitwork_edge_refused_total counter
zeitwork_edge_refused_total{reason="body_size"} 1
zeitwork_edge_refused_total{reason="client_conns"} 0
zeitwork_edge_refused_total{reason="client_rate"} 0
zeitwork_edge_refused_total{reason="conns"} 0
zeitwork_edge_refused_total{reason="header_size"} 0
zeitwork_edge_refused_total{reason="project_rate"} 1
zeitwork_edge_refused_total{reason="proxy_header"} 0
zeitwork_edge_refused_total{reason="slow_header"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "zeitwork_edge_refused_total"); err != nil {
		t.Fatal(err)
	}
}
