package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/build/buildah"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/edgetls"
	"github.com/zeitwork/zeitwork/internal/mail"
	"github.com/zeitwork/zeitwork/internal/node"
	"github.com/zeitwork/zeitwork/internal/node/network"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/platform"
	"github.com/zeitwork/zeitwork/internal/seal"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/vmm/guestkernel"
)

// The server roles as separate processes, for installations of more than
// one machine. `zeitwork up` runs them all in one process instead.

func roleLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// required reads a flag value or its environment variable.
func required(name, value, env string) (string, error) {
	if value == "" {
		value = os.Getenv(env)
	}
	if value == "" {
		return "", fmt.Errorf("--%s (or %s) is required", name, env)
	}
	return value, nil
}

func operatorCmd() *cobra.Command {
	var listen, dbURL, domain, edgeURL, stateDir, registryHost, bootstrapEmail, metricsListen string
	var allowRegistries, buildDNS []string
	var builds bool
	var buildMirror string
	var auditRetention, nodeDownAfter time.Duration
	var cpuOvercommit float64
	var instanceDiskMiB, diskReserveMiB int
	var publicURL string
	var tlsNames []string
	var smtp mail.Config
	var domains operator.DomainConfig
	var sessions operator.SessionConfig
	var registryStorage registryStorageFlags
	var buildDiskGiB, buildCacheGiB int64
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Run the control plane: API, registry, reconciler (needs PostgreSQL)",
		Long: `Run the operator. ZEITWORK_SEAL_KEY (base64, 32 bytes) must hold the
installation's seal key: it encrypts env vars and the cluster CA's key.
Nodes and edges enrol with single-use join tokens (zeitwork nodes join-token).
--bootstrap EMAIL creates the first user and prints an API token and a node
and an edge join token. --tls-name serves the API over TLS with a
certificate from the cluster CA (docs/security.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := roleLogger()
			dbURL, err := required("database-url", dbURL, "DATABASE_URL")
			if err != nil {
				return err
			}
			keyText, err := required("seal key", "", "ZEITWORK_SEAL_KEY")
			if err != nil {
				return fmt.Errorf("%w; make one with: head -c32 /dev/urandom | base64", err)
			}
			key, err := seal.ParseKey(keyText)
			if err != nil {
				return err
			}
			sealer, _ := seal.New(key)
			s, err := store.Open(ctx, dbURL)
			if err != nil {
				return err
			}
			defer s.Close()
			if bootstrapEmail != "" {
				tok, err := operator.Bootstrap(ctx, s, "default", bootstrapEmail)
				if err != nil {
					return err
				}
				fmt.Printf("API token for %s: %s\n", bootstrapEmail, tok)
				if err := printSignInLink(ctx, s, bootstrapEmail, publicURL); err != nil {
					return err
				}
			}
			regStorage, err := registryStorage.open(ctx, s, stateDir)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			if registryHost == "" {
				registryHost = ln.Addr().String()
			}
			builder, err := operatorBuilder(builds, buildah.Config{
				StateDir: filepath.Join(stateDir, "builds"), PlainHTTP: []string{registryHost}, DNS: buildDNS, Mirror: buildMirror,
				DiskBytes: buildDiskGiB << 30, CacheBytes: buildCacheGiB << 30, Log: log,
			})
			if err != nil {
				ln.Close()
				return err
			}
			metrics, err := serveMetrics(ctx, metricsListen, log)
			if err != nil {
				ln.Close()
				return err
			}
			op, err := operator.New(operator.Config{
				Store: s, Sealer: sealer, AppsDomain: domain, EdgeURL: edgeURL,
				RegistryHost: registryHost, RegistryStorage: regStorage, GitDir: filepath.Join(stateDir, "git"),
				AllowedRegistries: allowRegistries,
				Log:               log, Metrics: metrics,
				AdminToken: os.Getenv("ZEITWORK_ADMIN_TOKEN"), Builder: builder,
				AuditRetention: auditRetention,
				NodeGrace:      nodeDownAfter, CPUOvercommit: cpuOvercommit,
				InstanceDiskMiB: instanceDiskMiB, DiskReserveMiB: diskReserveMiB,
				PublicURL: publicURL, Mail: smtpConfig(smtp), Domains: domains, Sessions: sessions,
			})
			if err != nil {
				return err
			}
			if bootstrapEmail != "" {
				if err := printBootstrapJoinTokens(ctx, op); err != nil {
					return err
				}
			}
			srv := &http.Server{Handler: op.Handler(), ReadHeaderTimeout: 10 * time.Second}
			if len(tlsNames) > 0 {
				if srv.TLSConfig, err = op.ServerTLS(ctx, tlsNames); err != nil {
					return err
				}
				go srv.ServeTLS(ln, "", "")
			} else {
				go srv.Serve(ln)
			}
			log.Info("operator listening", "addr", ln.Addr().String(), "tls", len(tlsNames) > 0)
			err = op.Run(ctx)
			srv.Shutdown(context.Background())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:7070", "API and registry address")
	f.StringVar(&dbURL, "database-url", "", "PostgreSQL URL (or DATABASE_URL)")
	f.StringVar(&domain, "apps-domain", "localhost", "domain apps are served under")
	f.StringVar(&edgeURL, "edge-url", "http://{host}:8080", "how users reach the edge; {host} is the app's host name")
	f.StringVar(&stateDir, "state-dir", "/var/lib/zeitwork/operator", "where the registry (with --registry-storage fs) and git repositories are stored")
	f.StringVar(&registryHost, "registry-host", "", "host:port under which nodes reach the registry (default: the listen address)")
	f.StringSliceVar(&allowRegistries, "allow-registry", nil, "host:port of a registry on a loopback, private or link-local address that deployments may pull from (repeatable; refused otherwise)")
	f.StringVar(&bootstrapEmail, "bootstrap", "", "create this first user and print tokens")
	f.BoolVar(&builds, "builds", true, "build Dockerfiles (zeitwork deploy DIR, git push, GitHub) with buildah on this host, every RUN step sandboxed")
	f.StringVar(&buildMirror, "build-mirror", "", "registry host[:port] tried first for base images from Docker Hub")
	f.StringSliceVar(&buildDNS, "build-dns", nil, "DNS servers RUN steps may use (default: this host's usable resolvers)")
	f.Int64Var(&buildDiskGiB, "build-disk-gib", 10, "disk one build may use (layers, files RUN steps write, base images), in GiB; past it the build fails")
	f.Int64Var(&buildCacheGiB, "build-cache-gib", 40, "budget of all projects' layer caches together, in GiB; least recently used projects' caches are removed past it")
	f.StringVar(&metricsListen, "metrics-listen", "", metricsFlagHelp)
	f.DurationVar(&auditRetention, "audit-retention", 90*24*time.Hour, "how long audit log entries are kept before they are deleted")
	f.DurationVar(&nodeDownAfter, "node-down-after", 15*time.Second, "a node without a heartbeat this long is marked down and its instances are placed elsewhere in its region (nodes heartbeat every 5s)")
	f.Float64Var(&cpuOvercommit, "cpu-overcommit", operator.DefaultCPUOvercommit, "the vCPUs of a node's instances may add up to this many times the node's vCPUs (memory is never overcommitted)")
	f.IntVar(&instanceDiskMiB, "instance-disk-mib", operator.DefaultInstanceDiskMiB, "disk an instance's root disk is counted at when placing it, in MiB, until a node reports the size of its image's root disk (the image's files plus 256 MiB)")
	f.IntVar(&diskReserveMiB, "disk-reserve-mib", operator.DefaultDiskReserveMiB, "disk every node keeps free of root disks (image cache, templates, logs), in MiB; -1 for none")
	f.StringSliceVar(&tlsNames, "tls-name", nil, "serve the API over TLS with a certificate from the cluster CA valid for this host name or address (repeatable; nodes and edges then use https://)")
	f.StringVar(&publicURL, "public-url", "", "how users reach the API, e.g. https://zeitwork.example.com (printed in mailed invitations)")
	f.StringVar(&smtp.Addr, "smtp-addr", "", "SMTP relay host:port to mail invitations through (default: none; the CLI prints them)")
	f.StringVar(&smtp.From, "smtp-from", "", "sender of mailed invitations, e.g. \"Zeitwork <zeitwork@example.com>\"")
	f.StringVar(&smtp.Username, "smtp-username", "", "SMTP login (its password in ZEITWORK_SMTP_PASSWORD)")
	f.StringVar(&smtp.Security, "smtp-security", mail.StartTLS, "starttls (port 587), tls (port 465) or none (a relay on this host only)")
	domainFlags(f, &domains)
	sessionFlags(f, &sessions)
	registryStorage.add(f)
	return cmd
}

// sessionFlags configure the dashboard's sign-in (docs/security.md).
func sessionFlags(f *pflag.FlagSet, c *operator.SessionConfig) {
	f.DurationVar(&c.Idle, "session-idle", 12*time.Hour, "a dashboard session without a request this long ends")
	f.DurationVar(&c.MaxAge, "session-max-age", 7*24*time.Hour, "a dashboard session ends this long after sign-in, used or not")
	f.IntVar(&c.EmailFailures, "signin-failures-per-email", 5, "failed sign-ins to one address within 15 minutes after which its sign-in is refused (429) until they age out")
	f.IntVar(&c.AddrFailures, "signin-failures-per-client", 20, "failed sign-ins from one client address within 15 minutes after which its sign-ins are refused (429)")
}

// smtpConfig is the relay from the flags, nil when none is set; the
// password comes from the environment, never a command line.
func smtpConfig(c mail.Config) *mail.Config {
	if c.Addr == "" {
		return nil
	}
	c.Password = os.Getenv("ZEITWORK_SMTP_PASSWORD")
	return &c
}

// operatorBuilder is the operator's Dockerfile builder: buildah, with the
// operator's own registry reached over plain HTTP when it is on loopback.
func operatorBuilder(enabled bool, cfg buildah.Config) (build.Builder, error) {
	if !enabled {
		return nil, nil
	}
	if len(cfg.DNS) == 0 {
		cfg.DNS = network.HostDNS("/etc/resolv.conf")
	}
	if cfg.DiskBytes <= 0 || cfg.CacheBytes <= 0 {
		return nil, &cli.UserError{Msg: "--build-disk-gib and --build-cache-gib must be at least 1", Hint: "set them to whole GiB, e.g. --build-disk-gib 10 --build-cache-gib 40"}
	}
	b, err := buildah.New(cfg)
	if err != nil {
		return nil, &cli.UserError{Msg: err.Error(), Hint: "install buildah and runc (scripts/install-deps.sh), or run with --builds=false"}
	}
	return b, nil
}

func nodeCmd() *cobra.Command {
	var operatorURL, region, stateDir, tunnelListen, tunnelAddr, netName, subnet, transit, accel, kernelCache, metricsListen, directAddr, directPorts string
	var imageCacheMiB int64
	var allowVMs []string
	var capacity node.Capacity
	var templates bool
	var heartbeat, startTimeout time.Duration
	var hostname string
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node agent: runs instances as microVMs (root)",
		Long: `Run a node agent. A new node enrols with the single-use join token in
ZEITWORK_JOIN_TOKEN (zeitwork nodes join-token); an enrolled one registers
again with the credential kept in --state-dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := roleLogger()
			join := os.Getenv("ZEITWORK_JOIN_TOKEN")
			sub, err1 := netip.ParsePrefix(subnet)
			tr, err2 := netip.ParsePrefix(transit)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("invalid --subnet or --transit: %w", err)
			}
			allow, err := parsePrefixes(allowVMs)
			if err != nil {
				return fmt.Errorf("invalid --vm-allow: %w", err)
			}
			direct, err := parseDirect(directAddr, directPorts)
			if err != nil {
				return err
			}
			deps, err := platform.PrepareNode(ctx, platform.NodeOptions{
				StateDir: stateDir, KernelCache: kernelCache, NetName: netName,
				Subnet: sub, Transit: tr, AllowVMs: allow, Direct: direct, Accel: accel, ImageCacheBytes: imageCacheMiB << 20, Log: log,
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", tunnelListen)
			if err != nil {
				return err
			}
			defer ln.Close()
			metrics, err := serveMetrics(ctx, metricsListen, log)
			if err != nil {
				return err
			}
			ncfg := node.Config{
				OperatorURL: operatorURL, JoinToken: join, Region: region, Capacity: capacity, StateDir: filepath.Join(stateDir, "node"),
				TunnelListener: ln, TunnelAddr: tunnelAddr, Driver: deps.Driver, Kernel: deps.Kernel.Vmlinux,
				Initrd: deps.Kernel.Initrd, Network: deps.Network, Images: deps.Images, Log: log, Metrics: metrics,
				Templates:         templates,
				HeartbeatInterval: heartbeat, Hostname: hostname, StartTimeout: startTimeout,
			}
			if d := deps.Network.Direct(); d != nil {
				ncfg.Direct = d
			}
			a, err := node.New(ncfg)
			if err != nil {
				return err
			}
			return a.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&operatorURL, "operator", "http://127.0.0.1:7070", "operator API URL")
	f.StringVar(&region, "region", "local", "this node's region (lowercase letters, digits and dashes, e.g. eu-west)")
	f.IntVar(&capacity.VCPUs, "vcpus", 0, "vCPUs this node offers instances (default: the host's CPUs)")
	f.IntVar(&capacity.MemoryMiB, "memory-mib", 0, "memory in MiB this node offers instances (default: the host's, less 512 MiB for the host)")
	f.IntVar(&capacity.DiskGiB, "disk-gib", 0, "disk in GiB this node offers (default: the size of --state-dir's file system); root disks are placed only while they fit in it and in the free space the node reports")
	f.StringVar(&stateDir, "state-dir", "/var/lib/zeitwork", "node state: images, disks, VM state")
	f.StringVar(&tunnelListen, "tunnel-listen", "0.0.0.0:7443", "address edges connect to")
	f.StringVar(&tunnelAddr, "tunnel-addr", "", "address edges should dial (default: --tunnel-listen)")
	f.StringVar(&netName, "net-name", "zeitwork", "name of the VM network namespace")
	f.StringVar(&subnet, "subnet", "10.213.0.0/24", "VM addresses")
	f.StringVar(&transit, "transit", "10.214.0.0/30", "host<->namespace link")
	f.StringSliceVar(&allowVMs, "vm-allow", nil, "private or link-local IPv4 prefixes VMs may reach (repeatable; default: only the internet and DNS)")
	f.StringVar(&directAddr, "direct-addr", "", "publish instances to edges with --node-transport direct on ports of this host IPv4 address, in plain TCP (a private network or an encrypted mesh only; default: off, edges use the tunnel)")
	f.StringVar(&directPorts, "direct-ports", "20000-29999", "host ports of --direct-addr handed to instances")
	f.StringVar(&accel, "accel", "auto", "auto (probe), kvm or tcg")
	f.StringVar(&kernelCache, "kernel-cache", guestkernel.DefaultCacheDir, "guest kernel cache")
	f.Int64Var(&imageCacheMiB, "image-cache-mib", platform.DefaultImageCache>>20, "size of the root disk cache; least recently used disks no instance runs on are evicted past it")
	f.StringVar(&metricsListen, "metrics-listen", "", metricsFlagHelp)
	f.BoolVar(&templates, "vm-templates", true, "start instances by restoring a VM template saved before the guest mounts its disk (one per VM size, kept under --state-dir/node/templates); false boots every VM")
	f.StringVar(&hostname, "hostname", "", "name shown for this node in zeitwork nodes list (default: the host's name)")
	f.DurationVar(&startTimeout, "start-timeout", time.Minute, "how long an instance may take from boot to a healthy app before it counts as failed")
	f.DurationVar(&heartbeat, "heartbeat-interval", 5*time.Second, "how often the node reports to the operator; keep it well under the operator's --node-down-after")
	return cmd
}

func edgeCmd() *cobra.Command {
	var operatorURL, listen, metricsListen, accessLog, stateDir string
	var shipLogs bool
	var trusted []string
	var guard edge.Config
	var tlsFlags edgeTLSFlags
	var nodeTransport, directSource string
	cmd := &cobra.Command{
		Use:   "edge",
		Short: "Run the HTTP edge: routes requests by host to healthy instances",
		Long: `Run an edge. A new edge enrols with the single-use join token in
ZEITWORK_JOIN_TOKEN (zeitwork nodes join-token --role edge); its credential
(token, key and certificate) is kept in --state-dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := roleLogger()
			operatorURL = strings.TrimSuffix(operatorURL, "/")
			host, _ := os.Hostname()
			if err := edge.CheckRegion(guard.Region); err != nil {
				return err
			}
			id, err := edge.Enrol(cmd.Context(), operatorURL, os.Getenv("ZEITWORK_JOIN_TOKEN"), stateDir, host, guard.Region)
			if err != nil {
				return err
			}
			tok := id.Token
			cfg := guard
			cfg.TunnelTLS = id.TunnelTLS
			if cfg.DirectTransport, err = parseNodeTransport(nodeTransport, directSource); err != nil {
				return err
			}
			if cfg.TrustedProxies, err = parseProxies(trusted); err != nil {
				return err
			}
			metrics, err := serveMetrics(cmd.Context(), metricsListen, log)
			if err != nil {
				return err
			}
			if cfg.AccessLog, err = openAccessLog(accessLog); err != nil {
				return err
			}
			src := edge.NewOperatorSource(operatorURL, tok, id.HTTP, log)
			src.Region = cfg.Region
			src.Direct, src.DirectSource = cfg.DirectTransport, directSource
			cfg.Source = src
			cfg.Metrics = metrics
			cfg.Wake = edge.NewOperatorWaker(operatorURL, tok, id.HTTP)
			if shipLogs {
				cfg.Ship = edge.NewLogShipper(operatorURL, tok, id.HTTP, log)
			}
			e := edge.New(cfg, log)
			go e.Run(cmd.Context())
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("edge listen %s: %w", listen, err)
			}
			if tlsFlags.listen != "" {
				return serveEdgeTLS(cmd.Context(), e, ln, tlsFlags, edgetls.NewStorage(operatorURL, tok, id.HTTP), log)
			}
			srv := e.NewServer(listen)
			go func() {
				<-cmd.Context().Done()
				srv.Shutdown(context.Background())
			}()
			log.Info("edge listening", "addr", listen, "trusted_proxies", trusted, "region", cfg.Region, "region_order", cfg.RegionOrder)
			if err := e.Serve(srv, e.Listener(ln)); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&operatorURL, "operator", "http://127.0.0.1:7070", "operator API URL")
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "HTTP address")
	f.StringVar(&stateDir, "state-dir", "/var/lib/zeitwork/edge", "the edge's credential: token, key and certificate")
	f.StringVar(&metricsListen, "metrics-listen", "", metricsFlagHelp)
	f.StringVar(&accessLog, "access-log", "", "write one JSON line per request to this file (\"-\": standard output; default none)")
	f.BoolVar(&shipLogs, "ship-logs", false, "send routed requests' access log lines to the operator, for `zeitwork logs --edge` (costs throughput)")
	f.StringSliceVar(&trusted, "trusted-proxy", nil, "address or CIDR of a load balancer that sends a PROXY protocol header (v1/v2) naming the client (repeatable); it must send one")
	f.StringVar(&guard.Region, "region", "", "the edge's region: its instances are tried first, other regions' only when none of them answers (default: no preference)")
	f.StringSliceVar(&guard.RegionOrder, "region-order", nil, "other regions to fall back to, nearest first, comma-separated (as a load balancer's regions); unlisted ones come last")
	f.DurationVar(&guard.SuspectFor, "suspect-for", 3*time.Second, "how long a node is avoided after a tunnel to it could not be opened or broke")
	f.DurationVar(&guard.WakeTimeout, "wake-timeout", 30*time.Second, "how long a request for a deployment scaled to zero waits for it to start before a 503")
	f.IntVar(&guard.MaxHeldPerDeployment, "max-held-per-deployment", 100, "requests held at most per deployment while it wakes from zero; more get 503")
	f.DurationVar(&guard.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send a request's headers (slowloris)")
	f.DurationVar(&guard.IdleTimeout, "idle-timeout", 120*time.Second, "time a kept-alive client connection may wait for its next request")
	f.IntVar(&guard.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request line and headers (431 past it)")
	f.Int64Var(&guard.MaxBodyBytes, "max-body-bytes", 100<<20, "largest request body (413 past it)")
	f.IntVar(&guard.MaxConns, "max-conns", 10000, "open client connections (503 past it)")
	f.IntVar(&guard.MaxConnsPerClient, "max-conns-per-client", 256, "open connections of one client address, an IPv6 /64 (429 past it)")
	f.StringVar(&nodeTransport, "node-transport", "tls", "how the edge reaches instances: tls (the node agent's tunnel, mutual TLS) or direct (plain TCP to the node's --direct-addr port of the instance, where the node publishes one; a private network only)")
	f.StringVar(&directSource, "direct-source", "", "with --node-transport direct: the IPv4 address the edge's connections to nodes come from (default: the address the operator sees its polls come from)")
	f.BoolVar(&guard.DisableFastPath, "no-fast-path", false, "serve every HTTP/1.x request with Go's net/http server instead of the edge's own HTTP/1.1 loop (slower; a switch in case the fast path misbehaves)")
	tlsFlags.add(f)
	return cmd
}

// openAccessLog opens the edge's access log: nil for "", standard output
// for "-", else the file, appended to (rotate it by renaming and
// restarting, or write to "-" and let the service manager rotate).
func openAccessLog(path string) (io.Writer, error) {
	switch path {
	case "":
		return nil, nil
	case "-":
		return os.Stdout, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	return f, nil
}

// parseProxies parses --trusted-proxy values: addresses or CIDR prefixes.
func parseProxies(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy %q: give an address or CIDR prefix, e.g. 10.0.0.5 or 10.0.0.0/24", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parsePrefixes parses CIDR prefixes from flags.
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// printBootstrapJoinTokens prints a node and an edge join token for the
// first hosts of a new installation.
func printBootstrapJoinTokens(ctx context.Context, op *operator.Operator) error {
	for _, role := range []string{pki.RoleNode, pki.RoleEdge} {
		jt, err := op.CreateJoinToken(ctx, role, 24*time.Hour, "bootstrap")
		if err != nil {
			return err
		}
		fmt.Printf("Join token for one %s (single use, expires %s): %s\n", role, jt.ExpiresAt.UTC().Format(time.RFC3339), jt.Token)
	}
	return nil
}

// printSignInLink prints a one-time dashboard sign-in link for the
// bootstrap user: the whole URL if the public URL is known, else the token
// for <api>/signin?token=....
func printSignInLink(ctx context.Context, s *store.Store, email, publicURL string) error {
	l, err := operator.CreateSignInLink(ctx, s, email, 15*time.Minute, uuid.Nil)
	if err != nil {
		return err
	}
	if publicURL != "" {
		fmt.Printf("Dashboard sign-in link for %s (once, 15 min): %s\n", email, operator.SignInURL(publicURL, l.Token))
		return nil
	}
	fmt.Printf("Dashboard sign-in for %s (once, 15 min): open <API URL>/signin?token=%s\n", email, l.Token)
	return nil
}
