package cli

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func orgsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "orgs", Short: "Create, list, switch and delete organisations"}
	var asJSON bool
	list := &cobra.Command{
		Use: "list", Short: "List your organisations and your role in each", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			// Listing names no organisation: --org must not hide the others.
			var orgs []api.Organisation
			if err := c.do(withOrg(cmd.Context(), ""), "GET", "/v1/orgs", nil, &orgs); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), orgs)
			}
			cur, _ := loadConfig()
			rows := [][]string{}
			for i, o := range orgs {
				mark := ""
				if o.Name == cur.Org || (cur.Org == "" && i == 0) {
					mark = "*"
				}
				rows = append(rows, []string{mark, o.Name, o.Role, since(o.CreatedAt)})
			}
			table(cmd.OutOrStdout(), []string{"", "NAME", "ROLE", "CREATED"}, rows)
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	create := &cobra.Command{
		Use: "create NAME", Short: "Create an organisation; you become its owner",
		Args: exactArgs(1, "give the organisation's name, e.g. `zeitwork orgs create my-team`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var o api.Organisation
			if err := c.do(withOrg(cmd.Context(), ""), "POST", "/v1/orgs", api.CreateOrganisationRequest{Name: args[0]}, &o); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), o)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created organisation %s; you are its owner. Work in it with `zeitwork orgs switch %s` or --org %s\n", o.Name, o.Name, o.Name)
			return nil
		},
	}
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	switchCmd := &cobra.Command{
		Use: "switch NAME", Short: "Make an organisation the current one (saved in the CLI's config)",
		Args: exactArgs(1, "give one of the names `zeitwork orgs list` shows"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var orgs []api.Organisation
			if err := c.do(withOrg(cmd.Context(), args[0]), "GET", "/v1/orgs", nil, &orgs); err != nil {
				return err
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			cfg.Org = args[0]
			if err := SaveConfig(cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Now working in organisation %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, create, switchCmd, orgsDeleteCmd())
	return cmd
}

func membersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "members", Short: "List, invite and remove the members of the organisation, and set their roles"}
	var asJSON bool
	list := &cobra.Command{
		Use: "list", Short: "List the organisation's members", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var ms []api.Member
			if err := c.do(cmd.Context(), "GET", "/v1/members", nil, &ms); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ms)
			}
			rows := [][]string{}
			for _, m := range ms {
				admin := ""
				if m.InstallationAdmin {
					admin = "yes"
				}
				rows = append(rows, []string{m.Email, m.Role, admin, since(m.Since)})
			}
			table(cmd.OutOrStdout(), []string{"EMAIL", "ROLE", "INSTALLATION ADMIN", "SINCE"}, rows)
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var role, expires string
	invite := &cobra.Command{
		Use: "invite EMAIL", Short: "Invite someone; prints the single-use invitation they accept with `zeitwork login --invite`",
		Args: exactArgs(1, "give the invitee's e-mail address, e.g. `zeitwork members invite ada@example.com --role developer`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var inv api.Invitation
			if err := c.do(cmd.Context(), "POST", "/v1/invitations", api.CreateInvitationRequest{Email: args[0], Role: role, ExpiresIn: expires}, &inv); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), inv)
			}
			out := cmd.OutOrStdout()
			if inv.Mailed {
				fmt.Fprintf(out, "Invited %s to %s as %s, until %s; the invitation was mailed to them.\n",
					inv.Email, inv.Organisation, inv.Role, inv.ExpiresAt.Local().Format(time.DateTime))
				return nil
			}
			if inv.MailError != "" {
				fmt.Fprintf(out, "The operator could not mail the invitation (%s).\n", inv.MailError)
			}
			fmt.Fprintf(out, "Invited %s to %s as %s, until %s. Send them this command (it works once):\n\n  zeitwork login --api %s --invite %s\n\nRevoke it with `zeitwork invitations revoke %s`.\n",
				inv.Email, inv.Organisation, inv.Role, inv.ExpiresAt.Local().Format(time.DateTime), c.cfg.APIURL, inv.Token, inv.ID)
			return nil
		},
	}
	invite.Flags().StringVar(&role, "role", "developer", "owner, admin, developer or viewer")
	invite.Flags().StringVar(&expires, "expires", "", "how long the invitation is valid, e.g. 72h (default 7 days, at most 30)")
	invite.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	remove := &cobra.Command{
		Use: "remove EMAIL", Short: "Remove a member; their access and their tokens for the organisation end at once",
		Args: exactArgs(1, "give the member's e-mail address (see `zeitwork members list`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", "/v1/members/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %s\n", args[0])
			return nil
		},
	}
	setRole := &cobra.Command{
		Use: "set-role EMAIL ROLE", Short: "Change a member's role (owner, admin, developer, viewer)",
		Args: exactArgs(2, "e.g. `zeitwork members set-role ada@example.com admin`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "PATCH", "/v1/members/"+url.PathEscape(args[0]), api.SetRoleRequest{Role: args[1]}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is now %s\n", args[0], args[1])
			return nil
		},
	}
	cmd.AddCommand(list, invite, remove, setRole)
	return cmd
}
