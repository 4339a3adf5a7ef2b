package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build/buildah"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/platform"
)

func upCmd() *cobra.Command {
	var cfg platform.Config
	var noSample, noBuilds, verbose bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run every role on this machine and deploy the sample app",
		Long: `Run the operator (with a private PostgreSQL), one node agent (region "local",
QEMU microVMs) and the edge on this machine, log the CLI in, and deploy the
bundled sample app, built from its Dockerfile by the sandboxed buildah builder
(builds go under --state-dir/builds). Ctrl-C stops everything and removes every VM, tap device,
disk and database process it started.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return &cli.UserError{Msg: "zeitwork up must run as root", Hint: "it creates tap devices and a network namespace; run it with sudo"}
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			if os.Getenv("ZEITWORK_DEBUG") != "" {
				level = slog.LevelDebug
			}
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if !noBuilds {
				cfg.Build = &buildah.Config{}
			} else if !noSample {
				return &cli.UserError{Msg: "--no-builds needs --no-sample", Hint: "the sample app is built from its Dockerfile"}
			}
			return up(cmd.Context(), cmd, cfg, noSample)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.StateDir, "state-dir", "/var/lib/zeitwork", "where the database, images, disks and VM state live")
	f.StringVar(&cfg.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default: a private cluster under --state-dir)")
	f.StringVar(&cfg.APIListen, "api-listen", "127.0.0.1:7070", "operator API (and image registry) address")
	f.StringVar(&cfg.EdgeListen, "edge-listen", "127.0.0.1:8080", "edge HTTP address")
	f.StringVar(&cfg.EdgeHTTPS, "edge-https", "127.0.0.1:8443", "edge HTTPS address, certificates from a local CA under --state-dir/tls (empty: no HTTPS)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "127.0.0.1:9464", "Prometheus metrics address (/metrics); empty turns metrics off")
	f.StringVar(&cfg.AppsDomain, "apps-domain", "localhost", "domain apps are served under")
	f.StringVar(&cfg.Accel, "accel", "auto", "VM acceleration: auto (probe), kvm or tcg")
	f.StringSliceVar(&cfg.AllowedRegistries, "allow-registry", nil, "host:port of a registry on a loopback, private or link-local address that deployments may pull from (repeatable; refused otherwise)")
	f.BoolVar(&cfg.Templates, "vm-templates", true, "start instances by restoring a VM template saved before the guest mounts its disk; false boots every VM")
	f.BoolVar(&noSample, "no-sample", false, "do not deploy the sample app")
	f.BoolVar(&noBuilds, "no-builds", false, "do not build Dockerfiles (zeitwork deploy DIR, git push); images only")
	f.BoolVarP(&verbose, "verbose", "v", false, "log what every role does")
	return cmd
}

func up(ctx context.Context, cmd *cobra.Command, cfg platform.Config, noSample bool) error {
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "==> Starting Zeitwork (PostgreSQL, operator, node agent, edge)")
	start := time.Now()
	p, err := platform.Start(ctx, cfg)
	if errors.Is(err, syscall.EADDRINUSE) {
		return &cli.UserError{Msg: err.Error(), Hint: "another process holds that port: stop it, or pick others with --api-listen, --edge-listen, --edge-https and --metrics-listen"}
	}
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "\n==> Stopping: removing VMs, taps and disks, stopping PostgreSQL")
		if err := p.Shutdown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "warning: cleanup:", err)
		}
		fmt.Fprintln(out, "==> Stopped")
	}()
	login := cli.Config{APIURL: p.APIURL, Token: p.Token}
	if err := cli.SaveConfig(login); err != nil {
		return err
	}
	fmt.Fprintf(out, "    ready in %.1fs; VMs use %s acceleration\n", time.Since(start).Seconds(), p.Driver().Accel())
	fmt.Fprintf(out, "    API %s (CLI logged in: %s)\n", p.APIURL, cli.ConfigPath())
	if link, err := p.SignInLink(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "warning: sign-in link:", err)
	} else {
		fmt.Fprintf(out, "    dashboard %s/ (sign in once with %s, valid 15 min; later: zeitwork users signin-link)\n", p.APIURL, link)
	}
	fmt.Fprintf(out, "    edge %s\n", p.EdgeURL)
	if p.EdgeTLSURL != "" {
		printHTTPS(out, p, cfg.AppsDomain)
	}
	if p.MetricsURL != "" {
		fmt.Fprintf(out, "    metrics %s\n", p.MetricsURL)
	}

	if !noSample {
		if cfg.Templates {
			waitTemplates(ctx, out, p)
		}
		if err := deploySample(ctx, out, cfg.StateDir, login); err != nil {
			fmt.Fprintln(os.Stderr, "error: sample app:", err)
		} else if err := waitRouted(ctx, p.EdgeURL, "hello."+cfg.AppsDomain, 15*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "warning: sample app:", err)
		}
	}
	// Name the binary as it was run: after `make up` it is bin/zeitwork,
	// which is not on PATH.
	zw := os.Args[0]
	if !strings.Contains(zw, "/") {
		zw = "zeitwork"
	}
	fmt.Fprintf(out, "\nTry: %[1]s status | %[1]s logs hello -f | %[1]s --help\nCtrl-C stops everything.\n", zw)
	<-ctx.Done()
	return nil
}

// waitTemplates waits, boundedly, for the node's first VM template, so
// that the sample's instances are restored from it (under a second each,
// sharing its memory) rather than booted while it is being built.
func waitTemplates(ctx context.Context, out io.Writer, p *platform.Platform) {
	fmt.Fprintln(out, "==> Preparing the VM template (first start: one VM boots and is saved; later instances restore it)")
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.WaitTemplates(wctx); err != nil {
		fmt.Fprintf(out, "    not ready (%v): the sample's VMs boot instead\n", err)
		return
	}
	fmt.Fprintf(out, "    ready in %.1fs\n", time.Since(start).Seconds())
}

// printHTTPS says where HTTPS is served and how to trust the local CA.
func printHTTPS(out io.Writer, p *platform.Platform, domain string) {
	port := p.EdgeTLSURL[strings.LastIndex(p.EdgeTLSURL, ":")+1:]
	root := p.LocalCA.RootFile
	fmt.Fprintf(out, "    edge %s (certificates from a local CA; trust its root %s)\n", p.EdgeTLSURL, root)
	fmt.Fprintf(out, "      curl --cacert %s https://hello.%s:%s/\n", root, domain, port)
	fmt.Fprintf(out, "      Debian/Ubuntu: sudo cp %s /usr/local/share/ca-certificates/zeitwork-local.crt && sudo update-ca-certificates\n", root)
	fmt.Fprintf(out, "      macOS: sudo security add-trusted-cert -d -k /Library/Keychains/System.keychain %s\n", root)
}

func deploySample(ctx context.Context, out interface{ Write([]byte) (int, error) }, stateDir string, login cli.Config) error {
	fmt.Fprintln(out, "==> Building the sample app (examples/hello) from its Dockerfile")
	dir := filepath.Join(stateDir, "sample")
	os.RemoveAll(dir)
	if err := examples.WriteSampleContext(ctx, "", dir); err != nil {
		return err
	}
	if err := cli.CreateProject(ctx, login, api.CreateProjectRequest{Name: "hello"}); err != nil {
		return err
	}
	_, err := cli.DeployDir(ctx, login, out, "hello", dir)
	return err
}

// waitRouted waits until the edge at edgeURL serves host. A deployment is
// ready once the operator has its instances healthy; the edge learns that
// from its next route poll, a moment later (longer on a loaded machine),
// and a newcomer who opens the printed URL in that moment would get a 404.
func waitRouted(ctx context.Context, edgeURL, host string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", edgeURL+"/", nil)
		if err != nil {
			return err
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusServiceUnavailable {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the edge did not serve %s within %s (last answer: %s)", host, limit, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
