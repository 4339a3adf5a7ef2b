package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/setup"
)

// setupCmd installs a role on a Debian or Ubuntu host as a systemd
// service (internal/setup; docs/operations.md, "Setting up hosts").
func setupCmd() *cobra.Command {
	var o setup.Options
	var dryRun bool
	var args string
	var builds bool
	cmd := &cobra.Command{
		Use:   "setup operator|node|edge|lb|dns",
		Short: "Install a role on this Debian/Ubuntu host as a systemd service and start it (root)",
		Long: `Install a role on this Debian or Ubuntu host: the packages it needs, this
binary as /usr/local/bin/zeitwork, its settings in /etc/zeitwork/ROLE.env, a
hardened unit /etc/systemd/system/zeitwork-ROLE.service, then start it. Set up
the operator first, then make join tokens (zeitwork nodes join-token
[--role edge]) for nodes and edges. Running it again upgrades: the binary is
replaced and the unit restarted (a node's VMs keep running); settings not
given again are kept. --dry-run prints every step and changes nothing.`,
		Example: `  zeitwork setup operator --local-postgres --args "--listen 0.0.0.0:7070 --apps-domain apps.example.com"
  zeitwork setup node --operator https://ctl.example.com:7070 --join-token zwj_... --region fra
  zeitwork setup edge --operator https://ctl.example.com:7070 --join-token zwj_... --args "--listen 0.0.0.0:80"
  zeitwork setup lb --config lb.json
  zeitwork setup dns --config dns.json --dry-run`,
		Args: func(_ *cobra.Command, a []string) error {
			if len(a) != 1 {
				return &cli.UserError{Msg: "give one role to set up", Hint: "zeitwork setup operator|node|edge|lb|dns (operator first)"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			o.Role = a[0]
			if cmd.Flags().Changed("args") {
				o.Args = &args
			}
			if cmd.Flags().Changed("builds") {
				o.Builds = &builds
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this binary: %w", err)
			}
			if o.Binary == "" {
				o.Binary = exe
			}
			return runSetup(cmd, o, dryRun)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "print every step (packages, files with their content, commands) and change nothing")
	f.StringVar(&o.Root, "root", "/", "write the files below this directory and skip the commands (for images and tests)")
	f.StringVar(&o.Operator, "operator", "", "the operator's API URL (node, edge)")
	f.StringVar(&o.JoinToken, "join-token", "", "single-use join token from `zeitwork nodes join-token [--role edge]` (node, edge; not needed once enrolled)")
	f.StringVar(&o.Region, "region", "", "the node's region (default: as before, else local); a load balancer's and DNS server's regions are in their --config")
	f.StringVar(&o.DatabaseURL, "database-url", "", "the operator's PostgreSQL URL")
	f.BoolVar(&o.LocalPostgres, "local-postgres", false, "install PostgreSQL on this host and make a database for the operator")
	f.BoolVar(&builds, "builds", true, "the operator builds Dockerfiles: install buildah and runc (default: as before, else true)")
	f.StringVar(&o.Config, "config", "", "JSON configuration to install as /etc/zeitwork/ROLE.json (lb, dns)")
	f.StringVar(&args, "args", "", "further flags for the role's command, e.g. \"--listen 0.0.0.0:80\" (default: as before)")
	f.StringVar(&o.Binary, "binary", "", "the zeitwork binary to install (default: this one)")
	f.MarkHidden("binary")
	return cmd
}

func runSetup(cmd *cobra.Command, o setup.Options, dryRun bool) error {
	w := cmd.OutOrStdout()
	if err := userErr(setup.CheckRole(o.Role)); err != nil {
		return err
	}
	real := strings.TrimRight(o.Root, "/") == ""
	if err := userErr(setup.CheckHost("/etc/os-release", os.Geteuid(), real && !dryRun)); err != nil {
		return err
	}
	steps, err := setup.Plan(o)
	if err != nil {
		return userErr(err)
	}
	notes := setup.Notes(o)
	if dryRun {
		fmt.Fprintf(w, "zeitwork setup %s: dry run, nothing is changed\n", o.Role)
		setup.Print(w, steps)
	} else {
		fmt.Fprintf(w, "zeitwork setup %s\n", o.Role)
		if err := setup.Apply(cmd.Context(), w, o.Root, steps); err != nil {
			return err
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

// userErr turns setup's errors into the CLI's, which print their hint.
func userErr(err error) error {
	var se *setup.Error
	if errors.As(err, &se) {
		return &cli.UserError{Msg: se.Msg, Hint: se.Hint}
	}
	return err
}
