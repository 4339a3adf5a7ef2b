package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/platform"
)

const metricsFlagHelp = "serve Prometheus metrics at /metrics on this address, e.g. 127.0.0.1:9464 (default: off)"

// serveMetrics serves a new registry on addr, on a listener of its own,
// until ctx ends, and returns it for the role to register into. An empty
// addr turns metrics off: the result is then nil.
func serveMetrics(ctx context.Context, addr string, log *slog.Logger) (prometheus.Registerer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	reg := platform.NewMetricsRegistry()
	srv := &http.Server{Handler: platform.MetricsHandler(reg), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	return reg, nil
}
