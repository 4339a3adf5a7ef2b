package cli

import (
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func rollbackCmd() *cobra.Command {
	var to string
	var detach, asJSON bool
	cmd := &cobra.Command{
		Use:   "rollback [PROJECT]",
		Short: "Deploy an earlier deployment's image again (the previous ready one by default)",
		Long:  "Without PROJECT, the project linked to this directory (`zeitwork link`).",
		Args:  maxArgs(1, "give the project's name, e.g. `zeitwork rollback my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			project, err := projectArg(cmd, c, args, "give it: `zeitwork rollback my-app`")
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			if asJSON {
				out = io.Discard
			}
			var d api.Deployment
			if err := c.do(ctx, "POST", "/v1/projects/"+url.PathEscape(project)+"/rollback", api.RollbackRequest{Deployment: to}, &d); err != nil {
				return err
			}
			fmt.Fprintf(out, "==> Deployment %s created from %s\n", d.ID, d.Image)
			if detach {
				return rolledBack(cmd, asJSON, d)
			}
			start := time.Now()
			if d, err = follow(ctx, c, out, d.ID, 10*time.Minute); err != nil {
				return err
			}
			if d.Status != api.StatusReady {
				return &UserError{Msg: "rollback deployment " + d.ID + " " + d.Status + ": " + d.Reason}
			}
			fmt.Fprintf(out, "==> Rolled back in %.1fs; %s serves deployment %s\n", time.Since(start).Seconds(), project, d.ID)
			return rolledBack(cmd, asJSON, d)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "deployment id to roll back to")
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the deployment is created")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rollback's deployment as JSON (and nothing else)")
	return cmd
}

// rolledBack prints the rollback's deployment for --json.
func rolledBack(cmd *cobra.Command, asJSON bool, d api.Deployment) error {
	if asJSON {
		return printJSON(cmd.OutOrStdout(), d)
	}
	return nil
}
