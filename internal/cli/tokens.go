package cli

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func tokensCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Create, list and revoke your API tokens"}
	var asJSON bool
	var role, expires string
	var projects []string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token for the current organisation (shown once)",
		Long: "Create a token for the current organisation, with at most your role.\n" +
			"A deploy token for CI: zeitwork tokens create ci --role developer --project web",
		Args: exactArgs(1, "name the token after its use, e.g. `zeitwork tokens create ci --role developer --project web`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var t api.Token
			req := api.CreateTokenRequest{Name: args[0], Role: role, Projects: projects, ExpiresIn: expires}
			if err := c.do(cmd.Context(), "POST", "/v1/tokens", req, &t); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Token %s for %s as %s%s, %s. It is shown only now:\n\n  %s\n",
				t.Name, t.Organisation, t.Role, projectsNote(t.Projects), expiry(t.ExpiresAt), t.Secret)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "owner, admin, developer or viewer (default: yours; never above it)")
	create.Flags().StringSliceVar(&projects, "project", nil, "limit the token to these projects (repeat or comma-separate)")
	create.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 720h, or never (default 90 days)")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	list := &cobra.Command{
		Use: "list", Short: "List your tokens, with when and from where each was last used", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var ts []api.Token
			if err := c.do(cmd.Context(), "GET", "/v1/tokens", nil, &ts); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ts)
			}
			rows := [][]string{}
			for _, t := range ts {
				rows = append(rows, []string{t.Name, or(t.Organisation, "any"), or(t.Role, "yours"), or(strings.Join(t.Projects, ","), "all"),
					tokenState(t), lastUsed(t), t.ID})
			}
			table(cmd.OutOrStdout(), []string{"NAME", "ORG", "ROLE", "PROJECTS", "STATE", "LAST USED", "ID"}, rows)
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use: "revoke NAME|ID", Short: "Revoke one of your tokens; it is refused from the next request on",
		Args: exactArgs(1, "give the token's name or id (see `zeitwork tokens list`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", "/v1/tokens/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func projectsNote(ps []string) string {
	if len(ps) == 0 {
		return ""
	}
	return " on " + strings.Join(ps, ", ")
}

func expiry(t *time.Time) string {
	if t == nil {
		return "never expires"
	}
	return "expires " + t.Local().Format(time.DateTime)
}

func tokenState(t api.Token) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !time.Now().Before(*t.ExpiresAt):
		return "expired"
	case t.ExpiresAt != nil:
		return "until " + t.ExpiresAt.Local().Format(time.DateOnly)
	}
	return "active"
}

func lastUsed(t api.Token) string {
	if t.LastUsedAt == nil {
		return "never"
	}
	return since(*t.LastUsedAt) + " from " + t.LastUsedAddr
}
