// Command zeitwork is the one Zeitwork binary: the server roles (up, and
// later operator, node, edge as separate processes) and the client CLI.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	operator.Version = version
	root := rootCmd()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		var ue *cli.UserError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "error:", ue.Error())
		} else {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		os.Exit(1)
	}
}

// rootCmd is the whole command tree: the server roles and the client's,
// answering a mistyped command or flag alike (cli.GuideMistakes).
func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "zeitwork",
		Short:         "Zeitwork: push a Dockerfile app, get it running in microVMs behind an edge",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(upCmd(), operatorCmd(), nodeCmd(), edgeCmd(), dnsCmd(), lbCmd(), setupCmd())
	root.AddCommand(cli.Commands()...)
	cli.GuideMistakes(root)
	return root
}
