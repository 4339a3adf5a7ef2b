package cli

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func rollbackCmd() *cobra.Command {
	var to string
	var detach bool
	cmd := &cobra.Command{
		Use:   "rollback PROJECT",
		Short: "Deploy an earlier deployment's image again (the previous ready one by default)",
		Args:  exactArgs(1, "give the project's name, e.g. `zeitwork rollback my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			var d api.Deployment
			if err := c.do(ctx, "POST", "/v1/projects/"+url.PathEscape(args[0])+"/rollback", api.RollbackRequest{Deployment: to}, &d); err != nil {
				return err
			}
			fmt.Fprintf(out, "==> Deployment %s created from %s\n", d.ID, d.Image)
			if detach {
				return nil
			}
			start := time.Now()
			if d, err = follow(ctx, c, out, d.ID, 10*time.Minute); err != nil {
				return err
			}
			if d.Status != api.StatusReady {
				return &UserError{Msg: "rollback deployment " + d.ID + " " + d.Status + ": " + d.Reason}
			}
			fmt.Fprintf(out, "==> Rolled back in %.1fs; %s serves deployment %s\n", time.Since(start).Seconds(), args[0], d.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "deployment id to roll back to")
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the deployment is created")
	return cmd
}
