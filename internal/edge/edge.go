package edge

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Edge. Zero durations and sizes take the defaults.
type Config struct {
	// Source delivers the route table. Required.
	Source RouteSource
	// TunnelTLS, if set, is the edge's TLS towards node agents
	// (pki.TunnelClient: its certificate, the cluster CA); node agents
	// accept nothing else. Nil speaks plain TCP with the route table's
	// token, which only tests' tunnel listeners accept.
	TunnelTLS *tls.Config
	// DirectTransport (zeitwork edge --node-transport direct) dials a
	// backend's api.Backend.DirectAddr in plain TCP when it has one: the
	// node's kernel DNATs the connection to the app, with no tunnel
	// header, no TLS and no copy in the node agent. Backends without one
	// (nodes without --direct-addr) still go through the tunnel. Only for
	// edges that reach nodes over a private network (docs/operations.md,
	// "Direct transport").
	DirectTransport bool
	// DialTimeout bounds opening a tunnel to a node agent (default 3 s).
	DialTimeout time.Duration
	// TunnelUserTimeout closes a tunnel whose sent bytes its node has not
	// acknowledged for this long (TCP_USER_TIMEOUT; default 5 s): a node
	// that vanished (power, network) sends no reset, and without it a
	// request on a kept-alive tunnel would wait minutes for the kernel to
	// give up. A slow app is not affected: its node's kernel acknowledges
	// the request at once. An idempotent request then moves on to another
	// instance.
	TunnelUserTimeout time.Duration
	// IdleConnTimeout is how long an idle upstream connection is kept
	// (default 30 s).
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerBackend caps the idle pool of each instance (default 256).
	MaxIdleConnsPerBackend int
	// MaxAttempts is how many instances an idempotent request may try
	// (default 3).
	MaxAttempts int
	// Region is the edge's region (zeitwork edge --region): its
	// instances are tried first, others only when it has no healthy
	// instance or all attempts there failed. Empty: no preference.
	Region string
	// RegionOrder lists the other regions to fall back to, nearest first
	// (as a load balancer's regions); regions not listed come last.
	RegionOrder []string
	// SuspectFor is how long a node is avoided after a dial to it failed
	// or a tunnel to it broke under a request (tunnelBroke) (default 3 s; negative: never): requests go to other nodes' instances
	// first, and the node is tried again after it, or when there is no
	// other. A request through it that succeeds ends the suspicion.
	SuspectFor time.Duration
	// AccessLog receives one JSON line per request (README.md, Access
	// log); nil means none. Off by default: a log line per request costs
	// a large share of the throughput.
	AccessLog io.Writer
	// Metrics receives the edge's Prometheus metrics (README.md, Metrics);
	// nil means none. Serve them on a listener of their own, never on the
	// public one.
	Metrics prometheus.Registerer
	// Ship, if set, receives the access log line of every routed request
	// for the operator (`zeitwork logs --edge`); Run runs it.
	Ship *LogShipper

	// Scale to zero (README.md, Scale to zero).

	// Wake, if set, wakes deployments that scaled to zero: their requests
	// are held while it is asked to, and the edge reports when requests
	// arrive (OperatorWaker). Nil: such a route without instances gets a
	// 503 saying that the deployment is asleep and this edge cannot wake it.
	Wake Waker
	// WakeTimeout bounds how long a request is held for its deployment to
	// wake (default 30 s); then: 503 with Retry-After.
	WakeTimeout time.Duration
	// MaxHeldPerDeployment caps the requests held for one deployment
	// (default 100); past it: 503 with Retry-After.
	MaxHeldPerDeployment int
	// ActivityEvery is how often due activity is reported (default 1 s).
	ActivityEvery time.Duration

	// Protection of the edge itself (docs/operations.md, Edge protection).

	// ReadHeaderTimeout bounds reading a request's line and headers (and a
	// PROXY header), against slowloris (default 10 s). Bodies and
	// responses have no time limit, so that streams last.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a kept-alive client connection that sends no
	// next request (default 120 s).
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's line and headers (default 64 KiB);
	// past it: 431.
	MaxHeaderBytes int
	// MaxBodyBytes caps a request body (default 100 MiB); past it: 413.
	MaxBodyBytes int64
	// MaxConns caps open client connections (default 10000); past it a
	// connection's request gets 503 and the connection is closed.
	MaxConns int
	// MaxConnsPerClient caps a client address's open connections (an
	// IPv6 client's /64; default 256); past it: 429.
	MaxConnsPerClient int
	// MaxClientBuckets caps the per-client rate limit buckets kept; the
	// least recently used go first (default 100000, some 15 MB).
	MaxClientBuckets int
	// TrustedProxies are the load balancers whose connections start with
	// a PROXY protocol header (v1 or v2) naming the client. Others are
	// their own client address, and a PROXY header from them is refused.
	TrustedProxies []netip.Prefix

	// DisableFastPath turns off the edge's own HTTP/1.1 loop (Edge.Serve;
	// docs/design.md, The path of a request): net/http then serves every
	// request.
	DisableFastPath bool
}

func (c *Config) setDefaults() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 3 * time.Second
	}
	if c.TunnelUserTimeout <= 0 {
		c.TunnelUserTimeout = 5 * time.Second
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
	if c.SuspectFor == 0 {
		c.SuspectFor = 3 * time.Second
	}
	if c.WakeTimeout <= 0 {
		c.WakeTimeout = 30 * time.Second
	}
	if c.MaxHeldPerDeployment <= 0 {
		c.MaxHeldPerDeployment = 100
	}
	if c.ActivityEvery <= 0 {
		c.ActivityEvery = time.Second
	}
	c.setProtectionDefaults()
}

func (c *Config) setProtectionDefaults() {
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 100 << 20
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.MaxConnsPerClient <= 0 {
		c.MaxConnsPerClient = 256
	}
	if c.MaxClientBuckets <= 0 {
		c.MaxClientBuckets = 100000
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
	// projects is nil without Config.Metrics; its series for the projects
	// in the table are in series (under mu).
	projects *projectVecs
	series   map[string]*projectSeries

	limits *limiter
	conns  connCounts
	access *slog.Logger // nil without Config.AccessLog

	idPrefix string // of request IDs (setRequestID)
	idSeq    atomic.Uint64

	mu       sync.Mutex // serialises apply
	backends map[backendKey]*backend
	// nodes are the health of the table's nodes, by ID (under mu).
	nodes map[string]*nodeHealth
	// activities are the scale-to-zero deployments of the table (under mu).
	activities map[string]*activity
	// regionWarned is the list of known regions last warned about
	// (checkKnownRegion; under mu).
	regionWarned string

	wakes *wakes
	// wakeLatency is nil without Config.Metrics.
	wakeLatency prometheus.Histogram
	changedMu   sync.Mutex
	changed     chan struct{} // closed and replaced when a table is applied
}

// New returns an edge that serves no routes until Run has received the
// first table from cfg.Source.
func New(cfg Config, log *slog.Logger) *Edge {
	cfg.setDefaults()
	e := &Edge{cfg: cfg, log: log, backends: map[backendKey]*backend{}, limits: newLimiter(cfg.MaxClientBuckets),
		idPrefix: newRequestIDs(), wakes: newWakes(), changed: make(chan struct{})}
	if cfg.AccessLog != nil {
		e.access = slog.New(slog.NewJSONHandler(cfg.AccessLog, nil))
	}
	if cfg.Metrics != nil {
		if err := e.registerMetrics(cfg.Metrics); err != nil {
			// Metrics are not worth refusing traffic for.
			log.Error("edge: register metrics", "err", err)
			e.duration, e.projects, e.wakeLatency = nil, nil, nil
		}
	}
	return e
}

// Run watches the route source and applies every table it delivers, until
// ctx ends. It also closes upstream connections that sit idle too long.
func (e *Edge) Run(ctx context.Context) error {
	go e.reapLoop(ctx)
	if e.cfg.Ship != nil {
		go e.cfg.Ship.run(ctx)
	}
	if e.cfg.Wake != nil {
		go e.reportLoop(ctx)
	}
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
			e.limits.reap(now)
		}
	}
}

// NewServer returns an http.Server for the edge with timeouts that keep
// slow or idle clients from holding connections forever, but none on
// reading a body or writing a response, which would cut long streams
// (server-sent events, WebSockets, downloads). Serve it on Listener(ln),
// through Edge.Serve for the fast path.
func (e *Edge) NewServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           e,
		ReadHeaderTimeout: e.cfg.ReadHeaderTimeout,
		IdleTimeout:       e.cfg.IdleTimeout,
		// The handler refuses past MaxHeaderBytes with a counted 431;
		// net/http's own (uncounted) 431 is only a backstop.
		MaxHeaderBytes: 2 * e.cfg.MaxHeaderBytes,
		ConnContext:    connContext,
		ErrorLog:       slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
}

var _ http.Handler = (*Edge)(nil)
