package cli

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func deploymentsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployments", Short: "List and delete deployments"}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list PROJECT",
		Short: "List a project's deployments",
		Args:  exactArgs(1, "give a project name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var ds []api.Deployment
			if err := c.do(cmd.Context(), "GET", "/v1/projects/"+url.PathEscape(args[0])+"/deployments", nil, &ds); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ds)
			}
			rows := [][]string{}
			for _, d := range ds {
				live := ""
				if d.Live {
					live = "live"
				}
				rows = append(rows, []string{d.ID, d.Status, live, d.Image, since(d.CreatedAt), d.Reason})
			}
			table(cmd.OutOrStdout(), []string{"ID", "STATUS", "", "IMAGE", "CREATED", "REASON"}, rows)
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	del := &cobra.Command{
		Use:   "delete DEPLOYMENT",
		Short: "Stop a deployment and remove its instances",
		Args:  exactArgs(1, "give a deployment id (see `zeitwork status`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var d api.Deployment
			if err := c.do(cmd.Context(), "DELETE", "/v1/deployments/"+url.PathEscape(args[0]), nil, &d); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deployment %s stopped; its instances are being removed\n", d.ID)
			return nil
		},
	}
	cmd.AddCommand(list, del)
	return cmd
}
