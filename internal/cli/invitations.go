package cli

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// invitationsCmd lists and revokes the organisation's pending invitations
// (owners); `members invite` makes them.
func invitationsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "invitations", Short: "List and revoke the organisation's pending invitations (owners; `members invite` makes them)"}
	var asJSON bool
	list := &cobra.Command{
		Use: "list", Short: "List pending invitations: not accepted and not expired", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var is []api.Invitation
			if err := c.do(cmd.Context(), "GET", "/v1/invitations", nil, &is); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), is)
			}
			rows := [][]string{}
			for _, i := range is {
				rows = append(rows, []string{i.ID, i.Email, i.Role, i.ExpiresAt.Local().Format(time.DateTime)})
			}
			listTable(cmd.OutOrStdout(), []string{"ID", "EMAIL", "ROLE", "EXPIRES"}, rows,
				"No pending invitations: invite someone with `zeitwork members invite EMAIL`")
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a pending invitation: its link and token stop working at once",
		Args: exactArgs(1, "give the invitation's ID (see `zeitwork invitations list`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", "/v1/invitations/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"revoked": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked invitation %s; it can no longer be accepted\n", args[0])
			return nil
		},
	}
	revoke.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list, revoke)
	return cmd
}
