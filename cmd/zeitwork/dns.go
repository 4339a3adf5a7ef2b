package main

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/geodns"
)

// dnsCmd runs the authoritative GeoDNS server (docs/operations.md,
// "GeoDNS").
func dnsCmd() *cobra.Command {
	var config, listen, metricsListen string
	var check bool
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Run the authoritative GeoDNS server for the apps zone",
		Long: `Run the authoritative DNS server for the apps zone and the custom domains'
CNAME target. It answers A/AAAA queries with the load balancers of the
nearest region that has a healthy one, located by EDNS Client Subnet or the
resolver's address, and the ACME challenges edges present. --config is a
JSON file (docs/operations.md, "GeoDNS"). SIGHUP reads it again and answers
from it at once; a file that does not load is logged and the running
configuration stays.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := geodns.LoadConfig(config)
			if err != nil {
				return &cli.UserError{Msg: err.Error(), Hint: "see docs/operations.md, \"GeoDNS\", for the file's format"}
			}
			log := roleLogger()
			h, err := geodns.New(cfg, log)
			if err != nil {
				return err
			}
			live := geodns.NewLive(h, log)
			defer func() { live.Handler().Close() }()
			if check {
				fmt.Fprintln(cmd.OutOrStdout(), "configuration is valid")
				return nil
			}
			udp, err := net.ListenPacket("udp", listen)
			if err != nil {
				return fmt.Errorf("listen udp %s: %w", listen, err)
			}
			tcp, err := net.Listen("tcp", listen)
			if err != nil {
				udp.Close()
				return fmt.Errorf("listen tcp %s: %w", listen, err)
			}
			ctx := cmd.Context()
			reg, err := serveMetrics(ctx, metricsListen, log)
			if err != nil {
				udp.Close()
				tcp.Close()
				return err
			}
			if reg != nil {
				if err := h.Register(reg); err != nil {
					return err
				}
			}
			go live.Run(ctx)
			reloadOnHangup(ctx, log, "dns", func() error {
				next, err := geodns.LoadConfig(config)
				if err != nil {
					return err
				}
				return live.Reload(next)
			})
			log.Info("dns listening", "addr", listen, "zone", cfg.Zone)
			return geodns.Serve(ctx, live, udp, tcp)
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "/etc/zeitwork/dns.json", "configuration file (JSON)")
	f.StringVar(&listen, "listen", ":53", "UDP and TCP address to answer on")
	f.StringVar(&metricsListen, "metrics-listen", "", metricsFlagHelp)
	f.BoolVar(&check, "check", false, "check the configuration and exit")
	return cmd
}
