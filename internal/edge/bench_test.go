package edge

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/api"
)

// discardWriter is a minimal ResponseWriter, so that the benchmark counts
// the proxy's own work and allocations, not a client's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkForward proxies GET requests over the real tunnel to a real app.
func BenchmarkForward(b *testing.B) { benchForward(b, Config{}) }

// BenchmarkForwardMetrics is BenchmarkForward with metrics registered,
// which adds the request duration histogram to every request.
func BenchmarkForwardMetrics(b *testing.B) {
	benchForward(b, Config{Metrics: prometheus.NewRegistry()})
}

func benchForward(b *testing.B, cfg Config) {
	a := startApp(b, "a")
	node := startNode(b, map[string]string{"i-a": a.addr})
	e := startEdgeConfig(b, cfg, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	req, _ := http.NewRequest("GET", "http://hello.localhost/", nil)
	req.RemoteAddr = "127.0.0.1:1234"
	req.RequestURI = "/"
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		e.ServeHTTP(w, req)
	}
}

// BenchmarkForwardLimited is BenchmarkForward for a project with rate
// limits high enough never to refuse: the cost of the buckets.
func BenchmarkForwardLimited(b *testing.B) {
	a := startApp(b, "a")
	node := startNode(b, map[string]string{"i-a": a.addr})
	r := apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node})
	r.Limits = &api.RateLimits{Project: api.RateLimit{Rate: 1e6, Burst: 1e6}, Client: api.RateLimit{Rate: 1e6, Burst: 1e6}}
	e := startEdgeConfig(b, Config{}, r)
	req, _ := http.NewRequest("GET", "http://hello.localhost/", nil)
	req.RemoteAddr = "127.0.0.1:1234"
	req.RequestURI = "/"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		e.ServeHTTP(w, req)
	}
}

// BenchmarkForwardRegions is BenchmarkForward for an edge with a region
// and a route over three regions' instances: the cost of the preference
// (no allocation more than BenchmarkForward's).
func BenchmarkForwardRegions(b *testing.B) {
	a := startApp(b, "a")
	node := startNode(b, map[string]string{"i-eu": a.addr, "i-us": a.addr, "i-ap": a.addr})
	e := startEdgeConfig(b, Config{Region: "eu", RegionOrder: []string{"us"}}, apiRoute("hello.localhost", "d", "live",
		api.Backend{Instance: "i-ap", NodeAddr: node, Region: "ap", Node: "n"},
		api.Backend{Instance: "i-us", NodeAddr: node, Region: "us", Node: "n"},
		api.Backend{Instance: "i-eu", NodeAddr: node, Region: "eu", Node: "n"}))
	req, _ := http.NewRequest("GET", "http://hello.localhost/", nil)
	req.RemoteAddr = "127.0.0.1:1234"
	req.RequestURI = "/"
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		e.ServeHTTP(w, req)
	}
}
