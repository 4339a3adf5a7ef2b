package cli

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func nodesJoinTokenCmd() *cobra.Command {
	var role string
	var ttl time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "join-token",
		Short: "Make a single-use join token that enrols one node or edge (shown once)",
		Long: "Make a single-use, expiring join token. Start the new host with it in\n" +
			"ZEITWORK_JOIN_TOKEN; it enrols once and gets a credential of its own.\n" +
			"The token ends in the cluster CA's pin, which the host checks over TLS.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl <= 0 || ttl%time.Second != 0 {
				return &UserError{Msg: fmt.Sprintf("invalid --ttl %s", ttl), Hint: "give whole seconds up to 168h, e.g. --ttl 1h"}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var jt api.JoinToken
			req := api.CreateJoinTokenRequest{Role: role, TTLSeconds: int(ttl / time.Second)}
			if err := c.do(cmd.Context(), "POST", "/v1/nodes/join-tokens", req, &jt); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), jt)
			}
			table(cmd.OutOrStdout(), []string{"ROLE", "EXPIRES", "ID"}, [][]string{{jt.Role, jt.ExpiresAt.UTC().Format(time.RFC3339), jt.ID}})
			fmt.Fprintf(cmd.OutOrStdout(), "\nIt enrols one %s, once, and is shown only now:\n\n  %s\n", jt.Role, jt.Token)
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", "node", "node or edge")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid (at most 168h)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func nodesRemoveCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "remove NODE",
		Short: "Remove a node: its credential is refused at once and its instances are rescheduled",
		Args:  exactArgs(1, "give the node's id, a prefix of it, or its hostname"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var n api.RemovedNode
			if err := c.do(cmd.Context(), "DELETE", "/v1/nodes/"+url.PathEscape(args[0]), nil, &n); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), n)
			}
			table(cmd.OutOrStdout(), []string{"NODE", "HOSTNAME", "REGION", "REMOVED", "RESCHEDULED"},
				[][]string{{n.ID, n.Hostname, n.Region, n.RemovedAt.UTC().Format(time.RFC3339), fmt.Sprint(n.Rescheduled)}})
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
