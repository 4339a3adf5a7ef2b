package edge

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zeitwork/zeitwork/internal/api"
)

// projectRoute is apiRoute for another project than "hello".
func projectRoute(project, host string, backends ...api.Backend) api.Route {
	r := apiRoute(host, "d-"+project, "live", backends...)
	r.Project = project
	return r
}

// projectSamples returns, for each project label, the sample count of the
// per-project duration histogram.
func projectSamples(t *testing.T, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "zeitwork_edge_project_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "project" {
					got[l.GetValue()] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return got
}

// TestProjectMetrics sends requests for two projects (one of them on two
// hosts) and for unknown hosts through a real edge, and reads the
// per-project series back as a scrape would.
func TestProjectMetrics(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	reg := prometheus.NewRegistry()
	be := api.Backend{Instance: "i-a", NodeAddr: node}
	te := startEdgeConfig(t, Config{Metrics: reg},
		projectRoute("hello", "hello.localhost", be),
		projectRoute("hello", "d-hello--hello.localhost", be),
		projectRoute("down", "down.localhost"), // no instance: 503
	)
	var helloBytes, downBytes, unroutedBytes int
	for _, host := range []string{"hello.localhost", "hello.localhost", "d-hello--hello.localhost"} {
		_, body := te.get(t, host, "/")
		helloBytes += len(body)
	}
	_, body := te.get(t, "down.localhost", "/")
	downBytes += len(body)
	for i := range 3 { // each unknown host must not make series of its own
		_, body := te.get(t, fmt.Sprintf("nope%d.localhost", i), "/")
		unroutedBytes += len(body)
	}

	want := fmt.Sprintf(`
# HELP zeitwork_edge_project_requests_total Requests by project and status class (1xx to 5xx); project "_unrouted" counts requests that matched no route.
# TYPE zeitwork_edge_project_requests_total counter
zeitwork_edge_project_requests_total{class="1xx",project="_unrouted"} 0
zeitwork_edge_project_requests_total{class="2xx",project="_unrouted"} 0
zeitwork_edge_project_requests_total{class="3xx",project="_unrouted"} 0
zeitwork_edge_project_requests_total{class="4xx",project="_unrouted"} 3
zeitwork_edge_project_requests_total{class="5xx",project="_unrouted"} 0
zeitwork_edge_project_requests_total{class="1xx",project="down"} 0
zeitwork_edge_project_requests_total{class="2xx",project="down"} 0
zeitwork_edge_project_requests_total{class="3xx",project="down"} 0
zeitwork_edge_project_requests_total{class="4xx",project="down"} 0
zeitwork_edge_project_requests_total{class="5xx",project="down"} 1
zeitwork_edge_project_requests_total{class="1xx",project="hello"} 0
zeitwork_edge_project_requests_total{class="2xx",project="hello"} 3
zeitwork_edge_project_requests_total{class="3xx",project="hello"} 0
zeitwork_edge_project_requests_total{class="4xx",project="hello"} 0
zeitwork_edge_project_requests_total{class="5xx",project="hello"} 0
# HELP zeitwork_edge_project_response_bytes_total Response body bytes sent to clients, by project (upgraded connections excepted).
# TYPE zeitwork_edge_project_response_bytes_total counter
zeitwork_edge_project_response_bytes_total{project="_unrouted"} %d
zeitwork_edge_project_response_bytes_total{project="down"} %d
zeitwork_edge_project_response_bytes_total{project="hello"} %d
`, unroutedBytes, downBytes, helloBytes)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"zeitwork_edge_project_requests_total", "zeitwork_edge_project_response_bytes_total"); err != nil {
		t.Fatal(err)
	}
	if helloBytes != 3*len("a GET / ") {
		t.Fatalf("hello sent %d bytes", helloBytes)
	}
	samples := projectSamples(t, reg)
	if fmt.Sprint(samples) != "map[_unrouted:3 down:1 hello:3]" {
		t.Fatalf("duration samples by project: %v", samples)
	}
}

// TestProjectMetricsRemovedProject: a project that leaves the route table
// loses its series, the others keep counting, and a churn of projects
// leaves only the current ones behind.
func TestProjectMetricsRemovedProject(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	reg := prometheus.NewRegistry()
	be := api.Backend{Instance: "i-a", NodeAddr: node}
	te := startEdgeConfig(t, Config{Metrics: reg},
		projectRoute("hello", "hello.localhost", be),
		projectRoute("gone", "gone.localhost", be))
	te.get(t, "hello.localhost", "/")
	te.get(t, "gone.localhost", "/")
	if s := projectSamples(t, reg); fmt.Sprint(s) != "map[_unrouted:0 gone:1 hello:1]" {
		t.Fatalf("before: %v", s)
	}

	setTable := func(version int64, routes ...api.Route) {
		te.src.Set(routeTable(version, routes...))
		waitFor(t, func() bool { return te.table.Load().version == version })
	}
	setTable(2, projectRoute("hello", "hello.localhost", be))
	te.get(t, "hello.localhost", "/")
	te.get(t, "gone.localhost", "/") // now unrouted
	if s := projectSamples(t, reg); fmt.Sprint(s) != "map[_unrouted:1 hello:2]" {
		t.Fatalf("after removal: %v", s)
	}
	if n := testutil.CollectAndCount(reg, "zeitwork_edge_project_requests_total"); n != 2*5 {
		t.Fatalf("%d request series, want 10 (hello and _unrouted, 5 classes each)", n)
	}
	if n := testutil.CollectAndCount(reg, "zeitwork_edge_project_response_bytes_total"); n != 2 {
		t.Fatalf("%d bytes series, want 2", n)
	}

	// Churn: 50 projects come and go, one table each.
	for i := range 50 {
		setTable(int64(3+i), projectRoute("hello", "hello.localhost", be),
			projectRoute(fmt.Sprintf("p%d", i), fmt.Sprintf("p%d.localhost", i), be))
	}
	if s := projectSamples(t, reg); fmt.Sprint(s) != "map[_unrouted:1 hello:2 p49:0]" {
		t.Fatalf("after churn: %v", s)
	}
	if n := testutil.CollectAndCount(reg, "zeitwork_edge_project_requests_total"); n != 3*5 {
		t.Fatalf("%d request series after churn, want 15 (hello, p49, _unrouted)", n)
	}
}
