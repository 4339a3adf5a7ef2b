package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/lb"
)

func lbCmd() *cobra.Command {
	var configPath, metricsListen string
	var check bool
	cmd := &cobra.Command{
		Use:   "lb",
		Short: "Run the L4 load balancer: relays TCP (80, 443) to the healthy edges of its region",
		Long: `Run a load balancer. --config names a JSON file (docs/operations.md, "Load
balancer"): its region, listeners, every region's edges in order of
preference, balancing and health checks. Each connection goes to an edge with
a PROXY protocol v2 header naming the client: list this host's address in the
edges' --trusted-proxy. SIGTERM stops accepting and lets open connections
finish for up to drain_timeout. SIGHUP reads --config again and puts its
edge lists, region and balance in force for new connections (open ones stay
where they are); a file that does not parse, or changes anything else, is
logged and the running configuration stays.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := readLBConfig(configPath)
			if err != nil {
				return err
			}
			if check {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(cfg)
			}
			log := roleLogger()
			metrics, err := serveMetrics(cmd.Context(), metricsListen, log)
			if err != nil {
				return err
			}
			l, err := lb.New(cfg, log, metrics)
			if err != nil {
				return err
			}
			lns, err := lb.Listen(cfg)
			if err != nil {
				return err
			}
			reloadOnHangup(cmd.Context(), log, "lb", func() error {
				next, err := readLBConfig(configPath)
				if err != nil {
					return err
				}
				if err := l.Reload(next); err != nil {
					return err
				}
				log.Info("lb edges", "region", next.Region, "regions", next.Regions, "balance", next.Balance)
				return nil
			})
			log.Info("lb listening", "region", cfg.Region, "listeners", cfg.Listeners, "balance", cfg.Balance)
			err = l.Serve(cmd.Context(), lns)
			log.Info("lb stopped")
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "/etc/zeitwork/lb.json", "JSON configuration file")
	f.StringVar(&metricsListen, "metrics-listen", "", metricsFlagHelp)
	f.BoolVar(&check, "check", false, "check the configuration, print it with defaults filled in as JSON, and exit")
	return cmd
}

func readLBConfig(path string) (lb.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return lb.Config{}, &cli.UserError{Msg: fmt.Sprintf("read lb config: %v", err),
			Hint: "write one as in docs/operations.md (Load balancer) and pass it with --config"}
	}
	cfg, err := lb.ParseConfig(b)
	if err != nil {
		return lb.Config{}, &cli.UserError{Msg: fmt.Sprintf("%s: %v", path, err),
			Hint: "fix the file; `zeitwork lb --check --config FILE` checks it"}
	}
	return cfg, nil
}
