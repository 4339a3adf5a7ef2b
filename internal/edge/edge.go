package edge

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Edge. Zero durations and sizes take the defaults.
type Config struct {
	// Source delivers the route table. Required.
	Source RouteSource
	// DialTimeout bounds opening a tunnel to a node agent (default 3 s).
	DialTimeout time.Duration
	// IdleConnTimeout is how long an idle upstream connection is kept
	// (default 30 s).
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerBackend caps the idle pool of each instance (default 256).
	MaxIdleConnsPerBackend int
	// MaxAttempts is how many instances an idempotent request may try
	// (default 3).
	MaxAttempts int
	// AccessLog logs every request at Info level. Off by default: a log
	// line per request costs a large share of the throughput.
	AccessLog bool
	// Metrics receives the edge's Prometheus metrics (README.md, Metrics);
	// nil means none. Serve them on a listener of their own, never on the
	// public one.
	Metrics prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 3 * time.Second
	}
	if c.IdleConnTimeout <= 0 {
		c.IdleConnTimeout = 30 * time.Second
	}
	if c.MaxIdleConnsPerBackend <= 0 {
		c.MaxIdleConnsPerBackend = 256
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
}

// Edge is the proxy: an http.Handler plus the route watcher (Run).
type Edge struct {
	cfg   Config
	log   *slog.Logger
	table atomic.Pointer[table]
	stats counters
	// duration is nil without Config.Metrics: no clock reads then.
	duration prometheus.Histogram

	mu       sync.Mutex // serialises apply
	backends map[backendKey]*backend
}

// New returns an edge that serves no routes until Run has received the
// first table from cfg.Source.
func New(cfg Config, log *slog.Logger) *Edge {
	cfg.setDefaults()
	e := &Edge{cfg: cfg, log: log, backends: map[backendKey]*backend{}}
	if cfg.Metrics != nil {
		if err := e.registerMetrics(cfg.Metrics); err != nil {
			// Metrics are not worth refusing traffic for.
			log.Error("edge: register metrics", "err", err)
			e.duration = nil
		}
	}
	return e
}

// Run watches the route source and applies every table it delivers, until
// ctx ends. It also closes upstream connections that sit idle too long.
func (e *Edge) Run(ctx context.Context) error {
	go e.reapLoop(ctx)
	return e.cfg.Source.Watch(ctx, e.apply)
}

// Ready reports whether a route table has arrived.
func (e *Edge) Ready() bool { return e.table.Load() != nil }

func (e *Edge) reapLoop(ctx context.Context) {
	tick := time.NewTicker(e.cfg.IdleConnTimeout / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			e.mu.Lock()
			for _, b := range e.backends {
				b.close()
			}
			e.mu.Unlock()
			return
		case now := <-tick.C:
			e.mu.Lock()
			bs := make([]*backend, 0, len(e.backends))
			for _, b := range e.backends {
				bs = append(bs, b)
			}
			e.mu.Unlock()
			for _, b := range bs {
				b.reap(now)
			}
		}
	}
}

// NewServer returns an http.Server for the edge with timeouts that keep
// slow or idle clients from holding connections forever.
func (e *Edge) NewServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
}

var _ http.Handler = (*Edge)(nil)
