package platform

import (
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startMetrics serves one registry, which every role of this process
// registers into, on its own listener: never on the edge's public one nor
// under the operator's API.
func (p *Platform) startMetrics() error {
	if p.cfg.MetricsListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", p.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	p.Metrics = NewMetricsRegistry()
	p.serve(ln, MetricsHandler(p.Metrics))
	p.MetricsURL = "http://" + ln.Addr().String() + "/metrics"
	return nil
}

// NewMetricsRegistry returns a registry for a process's roles, holding the
// Go runtime and process collectors already.
func NewMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// MetricsHandler serves reg at GET /metrics, and nothing else.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A failed database count drops its gauges, not the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

// registerer is where a role registers its metrics; nil when metrics are off.
func (p *Platform) registerer() prometheus.Registerer {
	if p.Metrics == nil {
		return nil
	}
	return p.Metrics
}

// nodeRegisterer labels a node agent's metrics with its network's name,
// since this process may run several agents.
func (p *Platform) nodeRegisterer(netName string) prometheus.Registerer {
	if p.Metrics == nil {
		return nil
	}
	return prometheus.WrapRegistererWith(prometheus.Labels{"net": netName}, p.Metrics)
}
