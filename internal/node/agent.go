// Package node is the node agent: it registers with the operator, runs the
// instances placed on its node as microVMs through a vmm.Driver, health
// checks them, ships their logs, and carries edge traffic to them through
// its tunnel listener. Restarting the agent never kills a VM: it re-adopts
// the VMs it finds running.
package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/tunnel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// Config configures a node agent.
type Config struct {
	// OperatorURL is the operator's API; over https the node trusts only
	// the cluster CA (pinned by the join token, then kept in StateDir).
	OperatorURL string
	// JoinToken enrols a new node (`zeitwork nodes join-token`); an
	// enrolled node registers again with its own token.
	JoinToken string
	Region    string
	Hostname  string
	// Capacity is what the node offers instances; zero fields are
	// detected from the host (DetectCapacity).
	Capacity Capacity
	// StateDir keeps the node's identity, instance records and VM disks.
	StateDir string
	// TunnelListener accepts edge traffic; TunnelAddr is how edges reach
	// it (defaults to the listener's address).
	TunnelListener net.Listener
	TunnelAddr     string

	Driver  vmm.Driver
	Kernel  string // vmlinux
	Initrd  string
	Network Network
	Images  Images
	// Direct, if set, publishes healthy instances to the cluster's edges
	// on the node's direct address (zeitwork node --direct-addr); nil:
	// edges reach instances only through the tunnel.
	Direct Publisher

	// StartTimeout bounds boot to a healthy app; default 60s.
	StartTimeout time.Duration
	// HeartbeatInterval defaults to 5s.
	HeartbeatInterval time.Duration
	// UsageInterval is how often a healthy instance's VM memory and CPU
	// are sampled (metrics, and the operator when they moved); default 15s.
	// It is also the window the CPU share is averaged over.
	UsageInterval time.Duration
	// LogLimits bound each instance's log files and shipping.
	LogLimits LogLimits
	Log       *slog.Logger
	// Templates turns on VM templates (when the driver is a
	// vmm.Snapshotter): instances are restored from a VM saved before it
	// mounted a root disk instead of booting (see templates.go).
	Templates bool
	// Metrics receives the agent's Prometheus metrics (README.md,
	// "Metrics"); nil means none. Agents sharing a registry need a
	// distinguishing label (prometheus.WrapRegistererWith).
	Metrics prometheus.Registerer
}

// Agent is a running node agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	client  *client
	records records
	metrics *metrics

	// backoffMin and backoffMax bound the wait before a failed instance
	// is started again (1 s doubling to 30 s; shorter in tests).
	backoffMin, backoffMax time.Duration
	// startProbe is how often a starting instance is probed until its
	// first check passes (startProbeInterval when zero; tests lengthen it).
	startProbe time.Duration

	mu   sync.Mutex
	sups map[string]*supervisor
	// tunnelTLS is the tunnel listener's TLS: the node's certificate,
	// and only edge certificates of the cluster's CA accepted.
	tunnelTLS *tls.Config
	// revoked are the removed edges, from the desired state: the tunnel
	// listener refuses their certificates and closes their tunnels.
	revoked  *tunnel.Revocations
	registry string
	// egress and nodeAuth are how images are pulled: the node's token for
	// the operator's registry only, a project's registry login for its
	// registry only, through the egress address checks.
	egress   *image.Egress
	nodeAuth authn.Authenticator
	// templates is nil without Config.Templates or a Snapshotter driver.
	templates *templates
	// started is closed once Run has registered and asked for the
	// templates built at start (see WaitTemplates).
	started     chan struct{}
	startedOnce sync.Once
}

// New checks the configuration and prepares the state directory.
func New(cfg Config) (*Agent, error) {
	if cfg.Driver == nil || cfg.Network == nil || cfg.Images == nil || cfg.TunnelListener == nil {
		return nil, errors.New("node: driver, network, images and tunnel listener are required")
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.TunnelAddr == "" {
		cfg.TunnelAddr = cfg.TunnelListener.Addr().String()
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	for _, d := range []string{"instances", "disks"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("node state: %w", err)
		}
	}
	cfg.Capacity = cfg.Capacity.withDefaults(cfg.StateDir)
	return &Agent{
		cfg:        cfg,
		log:        cfg.Log,
		client:     &client{base: cfg.OperatorURL, http: &http.Client{Timeout: 60 * time.Second}},
		records:    records{dir: filepath.Join(cfg.StateDir, "instances")},
		metrics:    newMetrics(),
		sups:       map[string]*supervisor{},
		revoked:    loadRevoked(cfg.StateDir),
		backoffMin: time.Second, backoffMax: 30 * time.Second,
		started: make(chan struct{}),
	}, nil
}

// identity is the node's ID and current token, kept across agent restarts:
// the operator lets a node register under its ID again only with it.
type identity struct {
	NodeID    string `json:"node_id"`
	NodeToken string `json:"node_token,omitempty"`
}

func (a *Agent) identityPath() string { return filepath.Join(a.cfg.StateDir, "node.json") }

// register enrols the node (with the join token) or registers it again
// (with its own token), and renews its tunnel certificate: a CSR for the
// key kept in the state directory, which never leaves the host.
func (a *Agent) register(ctx context.Context) error {
	var id identity
	if b, err := os.ReadFile(a.identityPath()); err == nil {
		json.Unmarshal(b, &id)
	}
	if err := a.trustOperator(); err != nil {
		return err
	}
	keyPEM, err := pki.LoadOrCreateKey(filepath.Join(a.cfg.StateDir, "tunnel.key"))
	if err != nil {
		return err
	}
	csr, err := pki.CSR(keyPEM)
	if err != nil {
		return err
	}
	bearer := a.cfg.JoinToken
	if id.NodeID != "" {
		bearer = id.NodeToken
	}
	resp, err := a.client.register(ctx, bearer, api.RegisterNodeRequest{
		NodeID: id.NodeID, NodeToken: id.NodeToken, Region: a.cfg.Region, Hostname: a.cfg.Hostname,
		TunnelAddr: a.cfg.TunnelAddr, Driver: a.cfg.Driver.Name(), Accel: a.cfg.Driver.Accel(), CSR: string(csr),
		VCPUs: a.cfg.Capacity.VCPUs, MemoryMiB: a.cfg.Capacity.MemoryMiB, DiskGiB: a.cfg.Capacity.DiskGiB,
	})
	if err != nil {
		return fmt.Errorf("register with operator: %w", err)
	}
	cred, err := pki.LoadCredential([]byte(resp.Certificate), keyPEM, []byte(resp.CA))
	if err != nil {
		return fmt.Errorf("register with operator: %w", err)
	}
	if err := writeFileAtomic(a.caPath(), []byte(resp.CA)); err != nil {
		return err
	}
	b, _ := json.Marshal(identity{NodeID: resp.NodeID, NodeToken: resp.NodeToken})
	if err := writeFileAtomic(a.identityPath(), b); err != nil {
		return err
	}
	a.client.trust(pki.OperatorClient(cred.Pool))
	egress := image.NewEgress(resp.Registry, resp.AllowedRegistries)
	if err := egress.TrustCA([]byte(resp.CA)); err != nil {
		return err
	}
	a.mu.Lock()
	a.tunnelTLS, a.registry = pki.TunnelServer(cred), resp.Registry
	a.egress, a.nodeAuth = egress, &authn.Basic{Username: "node", Password: resp.NodeToken}
	a.mu.Unlock()
	a.log.Info("node registered", "node", resp.NodeID, "region", a.cfg.Region,
		"driver", a.cfg.Driver.Name(), "accel", a.cfg.Driver.Accel())
	return nil
}

// pullOptions are the options to pull an instance's image with, given
// its project's registry login (nil for none).
func (a *Agent) pullOptions(login *api.RegistryAuth) []image.Option {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.egress == nil {
		return nil // not registered: nothing to pull from
	}
	var creds *image.Credentials
	if login != nil {
		creds = &image.Credentials{Host: login.Host, Username: login.Username, Password: login.Password}
	}
	return a.egress.OptionsFor(a.nodeAuth, creds)
}

// writeFileAtomic replaces path with b, so that a crash leaves the old or
// the new identity, never none.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// NodeID is the ID the operator gave this node (empty before Run registers).
func (a *Agent) NodeID() string {
	_, id := a.client.creds()
	return id
}

// Run registers, adopts surviving VMs, and serves until ctx ends. On
// return the VMs keep running: stopping the agent is not stopping the node.
func (a *Agent) Run(ctx context.Context) error {
	if a.cfg.Metrics != nil {
		unregister, err := a.registerMetrics(a.cfg.Metrics)
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		defer unregister()
	}
	for {
		err := a.register(ctx)
		if err == nil {
			break
		}
		a.log.Warn("registration failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if a.cfg.Templates { // before any supervisor runs: they read it unlocked
		a.templates = newTemplates(ctx, a.cfg.StateDir, a.cfg.Driver, a.log)
	}
	if err := a.adopt(ctx); err != nil {
		return err
	}
	if a.templates != nil {
		defer a.templates.wait()
		a.templates.prepare(vmm.Spec{Kernel: a.cfg.Kernel, Initrd: a.cfg.Initrd, MemoryMiB: defaultMemoryMiB, VCPUs: defaultVCPUs})
	}
	a.startedOnce.Do(func() { close(a.started) })
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a.heartbeatLoop(ctx) }()
	go func() { defer wg.Done(); a.desiredLoop(ctx) }()
	go func() { defer wg.Done(); a.serveTunnel(ctx) }()
	wg.Wait()
	a.mu.Lock()
	sups := make([]*supervisor, 0, len(a.sups))
	for _, s := range a.sups {
		sups = append(sups, s)
	}
	a.mu.Unlock()
	for _, s := range sups {
		<-s.done
	}
	return nil
}

// WaitTemplates waits until the agent has registered and the VM template
// it builds at start for the default instance size is built (at once
// without templates), so that a first deploy restores its instances
// instead of booting them; `zeitwork up` waits for it before the sample.
func (a *Agent) WaitTemplates(ctx context.Context) error {
	select {
	case <-a.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	if a.templates == nil {
		return nil
	}
	return a.templates.idle(ctx)
}

// serveTunnel serves the tunnel listener until ctx ends: edges'
// certificates of the cluster's CA, less the edges the operator revoked.
func (a *Agent) serveTunnel(ctx context.Context) {
	a.mu.Lock()
	conf := a.tunnelTLS
	a.mu.Unlock()
	if err := tunnel.ServeTLS(ctx, a.cfg.TunnelListener, conf, a.resolveBackend, a.log, a.revoked); err != nil && ctx.Err() == nil {
		a.log.Error("tunnel listener stopped", "err", err)
	}
}

func (a *Agent) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.client.heartbeat(ctx, heartbeatRequest(a.cfg.StateDir)); err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat", "err", err)
		}
	}
}

// desiredLoop long-polls the operator for this node's instances.
func (a *Agent) desiredLoop(ctx context.Context) {
	var version int64
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		ds, err := a.client.desired(ctx, version)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("fetch desired state", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		version = ds.Version
		a.setRevoked(ds.RevokedEdges)
		a.setDirectEdges(ctx, ds.DirectEdges)
		a.apply(ctx, ds.Instances)
	}
}

// apply starts supervisors for new instances and stops the ones no longer
// wanted.
func (a *Agent) apply(ctx context.Context, want []api.DesiredInstance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	listed := map[string]bool{}
	for _, d := range want {
		listed[d.ID] = true
		s, ok := a.sups[d.ID]
		switch {
		case d.Desired == "running" && !ok:
			s = a.newSupervisor(ctx, record{Desired: d}, nil)
			s.env.deliverLogin(d.RegistryAuth)
			s.env.deliver(d.Env)
			a.sups[d.ID] = s
			go s.run()
		case d.Desired == "running" && ok:
			s.env.deliverLogin(d.RegistryAuth)
			s.env.deliver(d.Env) // an adopted instance learns its env again
		case d.Desired != "running" && ok:
			s.stop()
		case d.Desired != "running" && !ok:
			// Nothing runs here: confirm at once so the operator can forget it.
			go a.client.report(ctx, d.ID, api.InstanceReport{State: api.InstanceStopped, Reason: "stopped"})
		}
	}
	for id, s := range a.sups {
		if !listed[id] {
			s.stop()
		}
	}
}

func (a *Agent) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sups, id)
}

// resolveBackend maps an instance to its VM's app address for the tunnel.
func (a *Agent) resolveBackend(instance string) (string, bool) {
	a.mu.Lock()
	s, ok := a.sups[instance]
	a.mu.Unlock()
	if !ok {
		return "", false
	}
	return s.backend()
}

// adopt re-attaches to VMs that survived an agent restart and cleans up
// what belongs to no known instance.
func (a *Agent) adopt(ctx context.Context) error {
	running, err := a.cfg.Driver.Recover(ctx)
	if err != nil {
		return fmt.Errorf("recover vms: %w", err)
	}
	recs, err := a.records.load()
	if err != nil {
		return err
	}
	vms := map[string]*vmm.Instance{}
	for _, vm := range running {
		if _, ok := recs[vm.ID]; !ok {
			a.log.Warn("destroying a vm no instance record claims", "instance", vm.ID)
			a.cfg.Driver.Destroy(ctx, vm.ID)
			continue
		}
		vms[vm.ID] = vm
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, rec := range recs {
		// Rewrites records of older agents, which held env values.
		a.records.save(rec)
		s := a.newSupervisor(ctx, rec, vms[id])
		a.sups[id] = s
		go s.run()
		if vms[id] != nil {
			a.log.Info("adopted running vm", "instance", id, "address", rec.Address)
		}
	}
	return nil
}
