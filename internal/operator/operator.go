// Package operator is Zeitwork's control plane: the REST API under /v1, the
// built-in image registry under /v2, and the reconcilers that turn
// deployments into placed, healthy instances and routes. It is the only
// component with database credentials; node agents and edges talk to it over
// HTTP with their own tokens.
package operator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/mail"
	"github.com/zeitwork/zeitwork/internal/registry"
	"github.com/zeitwork/zeitwork/internal/seal"
	"github.com/zeitwork/zeitwork/internal/store"
)

// Config configures an operator.
type Config struct {
	Store *store.Store
	// PublicURL is how users reach the API, e.g. https://zeitwork.example.com;
	// required with Mail, whose messages carry it.
	PublicURL string
	// Mail, if set, is the SMTP relay invitations are mailed through;
	// without it the inviter passes the invitation on.
	Mail *mail.Config
	// Sealer encrypts env vars at rest.
	Sealer *seal.Sealer
	// AppsDomain is the domain apps are served under, e.g. "localhost".
	AppsDomain string
	// EdgeURL is how users reach the edge, used to print app URLs, e.g.
	// "http://{host}:8080"; {host} is replaced by the app's host name.
	EdgeURL string
	// RegistryHost is "host:port" under which nodes reach the built-in
	// registry (the operator's own listener).
	RegistryHost string
	// AllowedRegistries ("host:port", or "host" for any port) may serve
	// images although they are on loopback, private or link-local
	// addresses, which are refused otherwise (a tenant could point the
	// operator and nodes at internal services). RegistryHost is always
	// allowed.
	AllowedRegistries []string
	// RegistryDir stores the built-in registry's blobs and manifests
	// unless RegistryStorage is set.
	RegistryDir string
	// RegistryStorage, if set, is where the built-in registry keeps its
	// objects instead (PostgreSQL or an S3 bucket): operator replicas that
	// share it serve the same images.
	RegistryStorage registry.Storage
	// Timers; zero values take the defaults below.
	Resync    time.Duration // periodic reconcile besides LISTEN/NOTIFY
	NodeGrace time.Duration // a node without heartbeat this long is down
	// CPUOvercommit lets the vCPUs of a node's instances add up to this
	// many times the node's (DefaultCPUOvercommit below 1); memory is
	// never overcommitted.
	CPUOvercommit float64
	// InstanceDiskMiB is the disk an instance's root disk is counted at
	// on its node until a node reported the size of its image's root disk
	// (DefaultInstanceDiskMiB when 0); DiskReserveMiB is
	// the disk every node keeps free of them (DefaultDiskReserveMiB when
	// 0, none when negative). See docs/operations.md, "Disk".
	InstanceDiskMiB int
	DiskReserveMiB  int
	DeployTimeout   time.Duration // a deployment not ready by then fails
	MaxFailures     int           // instance failures that fail a new deployment
	Drain           time.Duration // a replaced deployment keeps serving this long
	// LogRetention and EventRetention bound how long app log lines and
	// deployment events are kept (defaults 7 and 30 days).
	LogRetention   time.Duration
	EventRetention time.Duration
	// AuditRetention is how long audit log entries are kept (default 90
	// days); older ones are deleted by the prune loop, the only deletes
	// the audit log allows.
	AuditRetention time.Duration
	// ImageRetry is how long an image that cannot be fetched for reasons
	// that may pass (registry unreachable, 5xx) is retried before the
	// deployment fails: long enough for a registry restart, short enough
	// that a mistyped registry host is reported while the user watches.
	ImageRetry     time.Duration
	InstanceMemory int // MiB per instance unless the project says
	// RegistryMaxBlobSize and RegistryMaxManifestSize bound one upload to
	// the built-in registry (defaults 10 GiB and 4 MiB).
	RegistryMaxBlobSize     int64
	RegistryMaxManifestSize int64
	// RegistryGCInterval is how often the built-in registry deletes blobs
	// no manifest references (default 1 h; negative: never);
	// RegistryGCGrace spares blobs written or referenced more recently,
	// and uploads idle for less, so a push in progress keeps its layers
	// (default 24 h).
	RegistryGCInterval time.Duration
	RegistryGCGrace    time.Duration
	// EnvMaxVars and EnvMaxBytes bound a project's env vars: their number
	// and the size of all "NAME=value" strings (defaults 200 and 64 KiB).
	EnvMaxVars  int
	EnvMaxBytes int
	// LogLinesPerSecond and LogBurst bound the app log lines one project
	// may store, whatever its nodes send (defaults 500 and 5000).
	LogLinesPerSecond float64
	LogBurst          int
	// Builder builds images from Dockerfiles; nil refuses builds (503).
	Builder build.Builder
	// BuildConcurrency is how many builds this replica runs at once
	// (default 1: a build takes the cores of a small machine).
	// BuildTimeout bounds one build (default 15 min). BuildLease is how
	// long a replica holds a build without renewing (default 30 s); a
	// build whose lease expires is retried once, then failed.
	BuildConcurrency int
	BuildTimeout     time.Duration
	BuildLease       time.Duration
	// BuildContextMaxBytes bounds an uploaded context, compressed and
	// extracted (default 100 MiB); BuildLogMaxLines the lines stored per
	// build (default 10000).
	BuildContextMaxBytes int64
	BuildLogMaxLines     int
	// AdminToken authorises operator-wide settings (the GitHub App);
	// empty: nobody but the operator itself may change them.
	AdminToken string
	// GitHubClient makes the operator's calls to the GitHub API (default:
	// a client with a 60 s timeout).
	GitHubClient *http.Client
	// GitHubDeliveryRetention is how long delivery IDs are remembered
	// against replays (default 7 days; GitHub redelivers for 3).
	GitHubDeliveryRetention time.Duration
	// GitDir holds the projects' git remotes (bare repositories, one per
	// project id, created on first use) and their hook; empty: no git
	// remote (/git/ answers 503).
	GitDir string
	// GitMaxPushBytes bounds the pack one push may send (default 1 GiB;
	// git's receive.maxInputSize).
	GitMaxPushBytes int64
	// Domains configures custom domains (domains.go).
	Domains DomainConfig
	// Sessions configures browser sign-in (sessions.go).
	Sessions SessionConfig
	Log      *slog.Logger
	// Metrics receives the operator's Prometheus metrics (README.md,
	// "Metrics"); nil means none are registered.
	Metrics prometheus.Registerer
}

func (c *Config) defaults() {
	if c.LogLinesPerSecond <= 0 {
		c.LogLinesPerSecond = 500
	}
	if c.LogBurst <= 0 {
		c.LogBurst = 5000
	}
	if c.Resync == 0 {
		c.Resync = 5 * time.Second
	}
	if c.CPUOvercommit < 1 {
		c.CPUOvercommit = DefaultCPUOvercommit
	}
	if c.InstanceDiskMiB <= 0 {
		c.InstanceDiskMiB = DefaultInstanceDiskMiB
	}
	if c.DiskReserveMiB == 0 {
		c.DiskReserveMiB = DefaultDiskReserveMiB
	}
	if c.NodeGrace == 0 {
		// Three missed heartbeats (every 5 s): the instances are then
		// placed again within the 30 s that issue 8 promises.
		c.NodeGrace = 15 * time.Second
	}
	if c.DeployTimeout == 0 {
		c.DeployTimeout = 5 * time.Minute
	}
	if c.LogRetention == 0 {
		c.LogRetention = 7 * 24 * time.Hour
	}
	if c.EventRetention == 0 {
		c.EventRetention = 30 * 24 * time.Hour
	}
	if c.AuditRetention <= 0 {
		c.AuditRetention = 90 * 24 * time.Hour
	}
	if c.ImageRetry == 0 {
		c.ImageRetry = 30 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 10 * time.Second
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = 3
	}
	if c.RegistryGCInterval == 0 {
		c.RegistryGCInterval = time.Hour
	}
	if c.RegistryGCGrace == 0 {
		c.RegistryGCGrace = 24 * time.Hour
	}
	if c.EnvMaxVars == 0 {
		c.EnvMaxVars = 200
	}
	if c.EnvMaxBytes == 0 {
		c.EnvMaxBytes = 64 << 10
	}
	if c.InstanceMemory == 0 {
		c.InstanceMemory = 256
	}
	if c.EdgeURL == "" {
		c.EdgeURL = "http://{host}"
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	c.buildDefaults()
	c.Domains.defaults()
	c.Sessions.defaults()
}

// Operator serves the API and runs the reconcilers.
type Operator struct {
	cfg   Config
	store *store.Store
	log   *slog.Logger
	hub   *hub
	// internalToken lets the operator pull from the built-in registry,
	// whichever replica serves it: derived from the seal key, which every
	// replica has, so that all of them make and accept the same one.
	internalToken string
	resolver      *resolver
	// egress is how the operator and its nodes fetch tenants' images.
	egress  *image.Egress
	handler http.Handler
	// apiMux routes the API; noSuchEndpoint asks it which methods a path
	// has, to answer a wrong method with 405 and Allow.
	apiMux     *http.ServeMux
	metrics    *metrics
	lastRoutes routeCache
	registry   *registry.Registry

	// dashboard serves the web app at / (dashboard.go).
	dashboard http.Handler

	// pruneBatch is how many rows one prune statement deletes.
	pruneBatch int32
	logQuota   logQuota
	// edgeLogQuota bounds edge access log lines per project, apart from
	// its app's own lines.
	edgeLogQuota logQuota
	// id names this replica as the holder of build leases.
	id     string
	builds *buildWorkers
	// github is the GitHub App, loaded from the database (githubapp.go).
	github githubCache
	// git is the git remote, nil without GitDir.
	git *gitRemote
	// touches spares a write per request recording a token's use (tokens.go).
	touches tokenTouches
	// dns answers the lookups that verify custom domains.
	dns *dnsLookup
	// locks holds the advisory locks of the loops that one replica at a
	// time runs (exclusive.go).
	locks *lockSession
	// caCache is the cluster's CA (ca.go).
	caCache clusterCA
	// dummy is verified against for unknown sign-in addresses (password.go).
	dummy dummyHash
}

// New returns an operator; call Run to start its reconcilers.
func New(cfg Config) (*Operator, error) {
	cfg.defaults()
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, fmt.Errorf("operator: store and sealer are required")
	}
	if cfg.AppsDomain == "" {
		return nil, fmt.Errorf("operator: apps domain is required")
	}
	if cfg.Mail != nil {
		if err := cfg.Mail.Check(); err != nil {
			return nil, fmt.Errorf("operator: %w", err)
		}
		if u, err := url.Parse(cfg.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("operator: mailing invitations needs the API's public URL (--public-url https://...), not %q", cfg.PublicURL)
		}
	}
	var err error
	o := &Operator{
		cfg:           cfg,
		store:         cfg.Store,
		log:           cfg.Log,
		hub:           newHub(),
		internalToken: "zwi_" + hex.EncodeToString(cfg.Sealer.Derive(internalTokenLabel)),
		pruneBatch:    5000,
		id:            randomHex(8),
		builds:        newBuildWorkers(),
		locks:         &lockSession{cfg: cfg.Store.Pool.Config().ConnConfig.Copy()},
	}
	if cfg.GitDir != "" {
		o.git, err = newGitRemote(cfg.GitDir)
		if errors.Is(err, exec.ErrNotFound) {
			o.log.Warn("no git remote: git is not installed (apt-get install git)")
		} else if err != nil {
			return nil, fmt.Errorf("operator: %w", err)
		}
	}
	o.egress = image.NewEgress(cfg.RegistryHost, cfg.AllowedRegistries)
	o.resolver = newResolver(o)
	if o.dns, err = newDNSLookup(cfg.Domains.DNSServer); err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	m, err := newMetrics(cfg.Metrics, cfg.Store.Pool, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	o.metrics = m
	o.dashboard = newDashboard()
	mux, err := o.routes()
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	// The audit log is outermost, so that the mux sets the pattern on the
	// request it records.
	o.handler = o.audited(m.instrument(mux))
	return o, nil
}

// Handler serves /v1 and /v2.
func (o *Operator) Handler() http.Handler { return o.handler }

// Run listens for database changes and reconciles until ctx ends.
func (o *Operator) Run(ctx context.Context) error {
	defer o.locks.close()
	go o.hub.listen(ctx, o.store.Pool, o.log)
	go o.registryGC(ctx)
	go o.pruneLoop(ctx)
	if o.cfg.Builder != nil {
		// Run returns only once the builds this replica runs have ended, so
		// that nothing writes to the registry or the database after it.
		var builds sync.WaitGroup
		builds.Go(func() { o.buildLoop(ctx) })
		defer builds.Wait()
	}
	go o.githubStatusLoop(ctx)
	go o.domainLoop(ctx)
	if o.git != nil {
		go o.serveHooks(ctx)
		defer os.RemoveAll(filepath.Dir(o.git.socket))
	}
	return o.reconcileLoop(ctx)
}

// internalTokenLabel names the internal registry credential among the
// secrets derived from the seal key (seal.Sealer.Derive).
const internalTokenLabel = "zeitwork operator internal registry token v1"

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
