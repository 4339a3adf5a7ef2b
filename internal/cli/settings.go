package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// settingsCmd shows and sets the installation's settings (administrators).
func settingsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "settings", Short: "Show and set the installation's settings (installation administrators)"}
	var asJSON bool
	show := &cobra.Command{
		Use: "show", Short: "Show the installation's settings", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var s api.InstallationSettings
			if err := c.do(cmd.Context(), "GET", "/v1/settings", nil, &s); err != nil {
				return err
			}
			return printSettings(cmd, s, asJSON)
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var domains string
	set := &cobra.Command{
		Use: "set", Short: "Set the installation's settings", Args: cobra.NoArgs,
		Example: "  zeitwork settings set --signup-domains example.com,example.org   # open sign-up to these domains\n" +
			"  zeitwork settings set --signup-domains ''                        # close it (invitations only)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("signup-domains") {
				return &UserError{Msg: "nothing to set", Hint: "give --signup-domains (empty closes sign-up)"}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			req := api.InstallationSettings{SignupDomains: []string{}}
			for _, d := range strings.Split(domains, ",") {
				if d = strings.TrimSpace(d); d != "" {
					req.SignupDomains = append(req.SignupDomains, d)
				}
			}
			var s api.InstallationSettings
			if err := c.do(cmd.Context(), "PUT", "/v1/settings", req, &s); err != nil {
				return err
			}
			return printSettings(cmd, s, asJSON)
		},
	}
	set.Flags().StringVar(&domains, "signup-domains", "", "comma-separated e-mail domains that may sign up; empty closes sign-up")
	set.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(show, set)
	return cmd
}

func printSettings(cmd *cobra.Command, s api.InstallationSettings, asJSON bool) error {
	if asJSON {
		return printJSON(cmd.OutOrStdout(), s)
	}
	signup := "closed (invitations only)"
	if len(s.SignupDomains) > 0 {
		signup = "open to " + strings.Join(s.SignupDomains, ", ")
	}
	table(cmd.OutOrStdout(), []string{"SETTING", "VALUE"}, [][]string{{"sign-up", signup}})
	return nil
}
