// Package platform wires every Zeitwork role into one process: PostgreSQL
// (a private cluster unless a database URL is given), the operator, one node
// agent with the QEMU driver, and the edge. It is the one place that knows
// how the parts fit together, used by `zeitwork up` and by the end-to-end
// tests.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/build/buildah"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/edgetls"
	"github.com/zeitwork/zeitwork/internal/node"
	"github.com/zeitwork/zeitwork/internal/node/network"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/pglocal"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/seal"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/vmm/guestkernel"
	"github.com/zeitwork/zeitwork/internal/vmm/qemu"
)

// Config configures an all-in-one platform. Zero values take defaults that
// suit one machine.
type Config struct {
	StateDir     string
	DatabaseURL  string // empty: run a private cluster under StateDir
	APIListen    string // default 127.0.0.1:7070
	EdgeListen   string // default 127.0.0.1:8080
	EdgeHTTPS    string // HTTPS too, local CA under StateDir/tls; default none
	TunnelListen string // default 127.0.0.1:0
	AppsDomain   string // default localhost
	Region       string // default local
	// Network of the VMs.
	NetName string       // default "zeitwork"
	Subnet  netip.Prefix // default 10.213.0.0/24
	Transit netip.Prefix // default 10.214.0.0/30
	DNS     []string
	// AllowVMs lists private, link-local or reserved IPv4 prefixes VMs may
	// reach nonetheless; by default only the public internet and DNS.
	AllowVMs []netip.Prefix
	Accel    string // auto, kvm or tcg
	// AllowedRegistries may serve images although they are on loopback,
	// private or link-local addresses (operator.Config.AllowedRegistries).
	AllowedRegistries []string
	// Build, when set, makes the operator build Dockerfiles with buildah,
	// every RUN step sandboxed (see internal/build/buildah). The
	// operator's registry is added to its PlainHTTP registries, and RUN
	// steps use the VMs' DNS servers unless Build.DNS says otherwise. Nil:
	// the operator refuses builds.
	Build *buildah.Config
	// KernelCache holds the guest kernel; default guestkernel.DefaultCacheDir.
	KernelCache string
	// Operator timers, shortened by tests.
	Resync       time.Duration
	NodeGrace    time.Duration
	StartTimeout time.Duration
	// LogLimits bound each instance's log files and shipping on the nodes.
	LogLimits     node.LogLimits
	DeployTimeout time.Duration
	Heartbeat     time.Duration
	// Templates makes the nodes restore instances from VM templates
	// (node.Config.Templates); off by default in tests, whose nodes would
	// otherwise each boot a template VM at start.
	Templates bool
	// UsageInterval is how often nodes sample their VMs' memory and CPU
	// (node.Config.UsageInterval); zero: the node's default.
	UsageInterval time.Duration
	// MetricsListen serves every role's Prometheus metrics at /metrics on
	// a listener of its own; empty means no metrics.
	MetricsListen string
	Log           *slog.Logger
}

// platformCPUOvercommit is the single-machine platform's CPU overcommit.
const platformCPUOvercommit = 16

func (c *Config) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.APIListen, "127.0.0.1:7070")
	def(&c.EdgeListen, "127.0.0.1:8080")
	def(&c.TunnelListen, "127.0.0.1:0")
	def(&c.AppsDomain, "localhost")
	def(&c.Region, "local")
	def(&c.NetName, "zeitwork")
	def(&c.KernelCache, guestkernel.DefaultCacheDir)
	if !c.Subnet.IsValid() {
		c.Subnet = netip.MustParsePrefix("10.213.0.0/24")
	}
	if !c.Transit.IsValid() {
		c.Transit = netip.MustParsePrefix("10.214.0.0/30")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Platform is a running all-in-one installation.
type Platform struct {
	cfg Config
	log *slog.Logger

	// APIURL and EdgeURL are where the operator and edge listen.
	APIURL  string
	EdgeURL string
	// EdgeTLSURL is where the edge serves HTTPS (empty without
	// Config.EdgeHTTPS); LocalCA issues its certificates.
	EdgeTLSURL string
	LocalCA    *edgetls.LocalCA
	// MetricsURL is the metrics endpoint (empty without MetricsListen).
	MetricsURL string
	// Metrics holds every role's metrics (nil without MetricsListen).
	Metrics *prometheus.Registry
	// Token is an API token of the first user.
	Token string

	Store    *store.Store
	Operator *operator.Operator

	pg      *pglocal.Cluster
	edgeLn  net.Listener
	servers []*http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	shutdownOnce sync.Once
	shutdownErr  error

	// Nodes are the node agents this process runs; the first is the one
	// Driver, Network and Kernel describe.
	Nodes []*Node
}

// Start brings every role up; Shutdown stops them and cleans up. When
// start-up fails part-way, Start shuts down what it had started before it
// returns the error: nothing is left running.
func Start(ctx context.Context, cfg Config) (*Platform, error) {
	cfg.defaults()
	if cfg.StateDir == "" {
		return nil, errors.New("platform: a state directory is required")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Platform{cfg: cfg, log: cfg.Log, cancel: cancel}
	if err := p.start(ctx, runCtx); err != nil {
		if serr := p.Shutdown(context.Background()); serr != nil {
			return nil, errors.Join(err, fmt.Errorf("clean up after failed start: %w", serr))
		}
		return nil, err
	}
	return p, nil
}

// start starts the roles in order; ctx bounds start-up, runCtx their life.
func (p *Platform) start(ctx, runCtx context.Context) error {
	if err := p.startMetrics(); err != nil {
		return err
	}
	if err := p.startState(ctx); err != nil {
		return err
	}
	if err := p.startOperator(runCtx); err != nil {
		return err
	}
	if err := p.startFirstNode(ctx); err != nil {
		return err
	}
	return p.startEdge(runCtx)
}

func (p *Platform) startState(ctx context.Context) error {
	url := p.cfg.DatabaseURL
	if url == "" {
		c, err := pglocal.Start(ctx, filepath.Join(p.cfg.StateDir, "postgres"), p.log)
		if err != nil {
			return err
		}
		p.pg = c
		url = c.URL
	}
	s, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	p.Store = s
	return nil
}

func (p *Platform) startOperator(ctx context.Context) error {
	key, err := loadOrCreateKey(filepath.Join(p.cfg.StateDir, "seal.key"))
	if err != nil {
		return err
	}
	sealer, err := seal.New(key)
	if err != nil {
		return err
	}
	apiLn, err := net.Listen("tcp", p.cfg.APIListen)
	if err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	// The edge's port is part of every app URL the operator prints.
	if p.edgeLn, err = net.Listen("tcp", p.cfg.EdgeListen); err != nil {
		apiLn.Close()
		return fmt.Errorf("edge listener: %w", err)
	}
	edgePort := portOf(p.edgeLn.Addr().String())
	edgeURL := "http://{host}"
	if edgePort != "80" {
		edgeURL = "http://{host}:" + edgePort
	}
	builder, err := p.newBuilder(apiLn.Addr().String())
	if err != nil {
		apiLn.Close()
		return err
	}
	op, err := operator.New(operator.Config{
		Store: p.Store, Sealer: sealer, AppsDomain: p.cfg.AppsDomain, EdgeURL: edgeURL,
		RegistryHost: apiLn.Addr().String(), RegistryDir: filepath.Join(p.cfg.StateDir, "registry"), GitDir: filepath.Join(p.cfg.StateDir, "git"),
		AllowedRegistries: p.cfg.AllowedRegistries,
		Resync:            p.cfg.Resync, NodeGrace: p.cfg.NodeGrace, DeployTimeout: p.cfg.DeployTimeout, Log: p.log.With("role", "operator"),
		Metrics: p.registerer(), Builder: builder,
		// One machine for development and tests runs many small, mostly
		// idle VMs: its vCPUs may be promised many times over. Memory
		// stays a hard limit.
		CPUOvercommit: platformCPUOvercommit,
	})
	if err != nil {
		apiLn.Close()
		return err
	}
	p.Operator = op
	p.APIURL = "http://" + apiLn.Addr().String()
	p.serve(apiLn, op.Handler())
	p.wg.Add(1)
	go func() { defer p.wg.Done(); op.Run(ctx) }()

	p.Token, err = operator.Bootstrap(ctx, p.Store, "default", AdminEmail)
	return err
}

// AdminEmail is the platform's first user, the installation's administrator.
const AdminEmail = "admin@localhost"

// SignInLink makes a one-time link that signs the first user in to the
// dashboard (valid 15 minutes).
func (p *Platform) SignInLink(ctx context.Context) (string, error) {
	l, err := operator.CreateSignInLink(ctx, p.Store, AdminEmail, 15*time.Minute, uuid.Nil)
	if err != nil {
		return "", err
	}
	return operator.SignInURL(p.APIURL, l.Token), nil
}

// newBuilder makes the Dockerfile builder Config.Build asks for (nil
// without one). registry is the operator's own, reached over plain HTTP.
func (p *Platform) newBuilder(registry string) (build.Builder, error) {
	if p.cfg.Build == nil {
		return nil, nil
	}
	cfg := *p.cfg.Build
	cfg.PlainHTTP = append(append([]string{}, cfg.PlainHTTP...), registry)
	if len(cfg.DNS) == 0 {
		cfg.DNS = p.cfg.DNS
		if len(cfg.DNS) == 0 {
			cfg.DNS = network.HostDNS("/etc/resolv.conf")
		}
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(p.cfg.StateDir, "builds")
	}
	b, err := buildah.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("builder: %w", err)
	}
	return b, nil
}

func (p *Platform) startFirstNode(ctx context.Context) error {
	_, err := p.AddNode(ctx, NodeConfig{
		Region: p.cfg.Region, StateDir: p.cfg.StateDir, NetName: p.cfg.NetName,
		Subnet: p.cfg.Subnet, Transit: p.cfg.Transit, TunnelListen: p.cfg.TunnelListen,
	})
	return err
}

// Driver is the first node's current VM driver.
func (p *Platform) Driver() *qemu.Driver { return p.Nodes[0].deps.Driver }

// Network is the first node's VM network.
func (p *Platform) Network() *network.Network { return p.Nodes[0].deps.Network }

// Kernel is the guest kernel the nodes boot.
func (p *Platform) Kernel() *guestkernel.Kernel { return p.Nodes[0].deps.Kernel }

// StartAgent starts the first node's agent again after StopAgent.
func (p *Platform) StartAgent() error { return p.Nodes[0].Start() }

// StopAgent stops the first node's agent; its VMs keep running.
func (p *Platform) StopAgent() { p.Nodes[0].Stop() }

func (p *Platform) startEdge(ctx context.Context) error {
	// The local edge enrols like any other: with an edge join token, once
	// (its identity is kept in the state directory).
	jt, err := p.Operator.CreateJoinToken(ctx, pki.RoleEdge, time.Hour, "zeitwork up")
	if err != nil {
		return err
	}
	id, err := edge.Enrol(ctx, p.APIURL, jt.Token, filepath.Join(p.cfg.StateDir, "edge"), "local edge", "")
	if err != nil {
		return err
	}
	edgeToken := id.Token
	ln := p.edgeLn
	e := edge.New(edge.Config{
		TunnelTLS: id.TunnelTLS,
		Source:    edge.NewOperatorSource(p.APIURL, edgeToken, &http.Client{}, p.log.With("role", "edge")),
		Metrics:   p.registerer(),
		// zeitwork up: `zeitwork logs --edge` works out of the box.
		Ship: edge.NewLogShipper(p.APIURL, edgeToken, nil, p.log.With("role", "edge")),
		Wake: edge.NewOperatorWaker(p.APIURL, edgeToken, nil),
	}, p.log.With("role", "edge"))
	p.wg.Add(1)
	go func() { defer p.wg.Done(); e.Run(ctx) }()
	p.EdgeURL = "http://" + ln.Addr().String()
	srv := e.NewServer(ln.Addr().String())
	p.servers = append(p.servers, srv)
	go e.Serve(srv, e.Listener(ln))
	if p.cfg.EdgeHTTPS == "" {
		return nil
	}
	return p.startEdgeTLS(ctx, e, edgeToken)
}

// startEdgeTLS serves HTTPS for the routed hosts with certificates from
// a local CA kept under the state directory, stored through the operator
// as on any edge. Plain HTTP keeps serving the apps (no redirect): the
// URLs printed locally are http.
func (p *Platform) startEdgeTLS(ctx context.Context, e *edge.Edge, edgeToken string) error {
	ca, err := edgetls.LoadOrCreateLocalCA(filepath.Join(p.cfg.StateDir, "tls"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", p.cfg.EdgeHTTPS)
	if err != nil {
		return fmt.Errorf("edge https listener: %w", err)
	}
	m, err := edgetls.New(edgetls.Config{
		Storage: edgetls.NewStorage(p.APIURL, edgeToken, nil), Allowed: e.Routes, Issuer: ca,
		Policy: e.TLSPolicy, Log: p.log.With("role", "edge"),
	})
	if err != nil {
		ln.Close()
		return err
	}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); <-ctx.Done(); m.Stop() }()
	p.LocalCA = ca
	p.EdgeTLSURL = "https://" + ln.Addr().String()
	srv := e.NewServer(ln.Addr().String())
	srv.Handler = m.WrapHSTS(srv.Handler) // projects' HSTS, on HTTPS only
	p.servers = append(p.servers, srv)
	go e.Serve(srv, m.Listener(e.Listener(ln)))
	return nil
}

func (p *Platform) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	p.servers = append(p.servers, srv)
	go srv.Serve(ln)
}

// Shutdown stops every role, destroys every VM, tap and disk this platform
// made, removes the network and stops PostgreSQL: nothing is left running.
// Calls after the first do nothing.
func (p *Platform) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() { p.shutdownErr = p.shutdown(ctx) })
	return p.shutdownErr
}

func (p *Platform) shutdown(ctx context.Context) error {
	for _, n := range p.Nodes {
		n.Stop()
	}
	for _, srv := range p.servers {
		srv.Close()
	}
	if p.edgeLn != nil {
		p.edgeLn.Close() // not yet served if start-up failed before the edge
	}
	p.cancel()
	p.wg.Wait()
	var errs []error
	for _, n := range p.Nodes {
		errs = append(errs, n.destroy(ctx))
	}
	if p.Store != nil {
		p.Store.Close()
	}
	if p.pg != nil {
		p.pg.Stop()
	}
	return errors.Join(errs...)
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

func loadOrCreateKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return seal.ParseKey(string(b))
	}
	k := seal.NewKey()
	if err := os.WriteFile(path, []byte(k), 0o600); err != nil {
		return nil, err
	}
	return seal.ParseKey(k)
}

// StateDir is where this platform keeps its state.
func (p *Platform) StateDir() string { return p.cfg.StateDir }
