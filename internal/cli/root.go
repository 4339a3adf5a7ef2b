package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Commands returns the client commands, for cmd/zeitwork to add beside the
// server roles.
func Commands() []*cobra.Command {
	cmds := []*cobra.Command{
		loginCmd(), projectsCmd(), deployCmd(), rollbackCmd(), statusCmd(), logsCmd(), deploymentsCmd(), envCmd(), buildArgsCmd(), buildsCmd(), githubCmd(),
		gitRemoteCmd(), gitCredentialCmd(), registryCmd(), auditCmd(),
		orgsCmd(), membersCmd(), invitationsCmd(), tokensCmd(), settingsCmd(), domainsCmd(),
		certsCmd(), nodesCmd(), usersCmd(), passwordCmd(), watchCmd(), openCmd(), linkCmd(), unlinkCmd(),
	}
	cmds = append(cmds, edgesAlias())
	for _, c := range cmds {
		c.PersistentFlags().String("org", "", "`NAME` of the organisation to act in (default: the current one, see 'zeitwork orgs switch')")
		addCAFileFlag(c)
		guideMistakes(c)
		c.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
			f := absCAFile(caFileOf(cmd))
			caFile.Store(&f)
			if org := orgOf(cmd); org != "" {
				cmd.SetContext(withOrg(cmd.Context(), org))
			}
		}
	}
	return cmds
}

// orgOf is the command's --org.
func orgOf(cmd *cobra.Command) string {
	org, _ := cmd.Flags().GetString("org")
	return org
}

// printJSON writes v for scripts.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listTable prints rows under their header, or, when there are none, says
// so and what to do (empty), instead of a header over nothing.
func listTable(w io.Writer, header []string, rows [][]string, empty string) {
	if len(rows) == 0 {
		fmt.Fprintln(w, empty)
		return
	}
	table(w, header, rows)
}

// table prints aligned columns.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, h := range header {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, h)
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		for i, c := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, printable(c))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func loginCmd() *cobra.Command {
	var apiURL, token, invite, signup string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Store the operator's API URL and your token, or accept an invitation",
		Long: "Store the operator's API URL and your token (--token), or accept an invitation (--invite):\n" +
			"a new user gets a token and is logged in; an existing user must be logged in already.\n" +
			"Where the installation allows your e-mail domain: --signup EMAIL --org NEW-ORG.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if invite != "" {
				return acceptInvite(cmd, apiURL, invite)
			}
			if signup != "" {
				return signUp(cmd, apiURL, signup)
			}
			if apiURL == "" || token == "" {
				return &UserError{Msg: "both --api and --token are required", Hint: "zeitwork up prints them; or accept an invitation with --api URL --invite TOKEN"}
			}
			if err := checkAPIURL(apiURL); err != nil {
				return err
			}
			hc, err := loginHTTP()
			if err != nil {
				return err
			}
			c := &client{cfg: Config{APIURL: apiURL, Token: token, Org: orgOf(cmd), CAFile: caFileFlag()}, http: hc}
			var orgs []api.Organisation
			if err := c.do(cmd.Context(), "GET", "/v1/orgs", nil, &orgs); err != nil {
				return err
			}
			if err := SaveConfig(c.cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s (saved in %s)\n", apiURL, ConfigPath())
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", os.Getenv("ZEITWORK_API_URL"), "operator API URL, e.g. http://127.0.0.1:7070")
	cmd.Flags().StringVar(&token, "token", os.Getenv("ZEITWORK_TOKEN"), "API token")
	cmd.Flags().StringVar(&invite, "invite", "", "`TOKEN` of an invitation (zwi_...) from 'zeitwork members invite'")
	cmd.Flags().StringVar(&signup, "signup", "", "sign up with this e-mail address and a new organisation named by --org (if the installation allows the domain)")
	return cmd
}

// acceptInvite accepts an invitation: a new user is logged in with the
// token the operator returns; an existing user sends the token they are
// logged in with. Either way the organisation becomes the current one.
func acceptInvite(cmd *cobra.Command, apiURL, invite string) error {
	cfg, _ := loadConfig()
	if apiURL == "" {
		apiURL = cfg.APIURL
	}
	if apiURL == "" {
		return &UserError{Msg: "--api is required", Hint: "the invitation names it: zeitwork login --api URL --invite TOKEN"}
	}
	if err := checkAPIURL(apiURL); err != nil {
		return err
	}
	if cfg.APIURL != apiURL {
		cfg = Config{APIURL: apiURL, CAFile: caFileFlag()}
	}
	hc, err := httpClient(cfg, 30*time.Second)
	if err != nil {
		return err
	}
	c := &client{cfg: Config{APIURL: apiURL, Token: cfg.Token, CAFile: cfg.CAFile}, http: hc}
	var acc api.AcceptInvitationResponse
	if err := c.do(cmd.Context(), "POST", "/v1/invitations/accept", api.AcceptInvitationRequest{Token: invite}, &acc); err != nil {
		return err
	}
	if acc.Token != "" {
		cfg.Token = acc.Token
	}
	cfg.Org = acc.Organisation
	if err := SaveConfig(cfg); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Joined organisation %s as %s (%s); it is now your current organisation (saved in %s)\n",
		acc.Organisation, acc.Role, acc.Email, ConfigPath())
	return nil
}

// signUp makes a user and their organisation, and logs them in.
func signUp(cmd *cobra.Command, apiURL, email string) error {
	org := orgOf(cmd)
	if apiURL == "" || org == "" {
		return &UserError{Msg: "--api and --org are required to sign up", Hint: "zeitwork login --api URL --signup you@example.com --org my-team"}
	}
	if err := checkAPIURL(apiURL); err != nil {
		return err
	}
	hc, err := loginHTTP()
	if err != nil {
		return err
	}
	c := &client{cfg: Config{APIURL: apiURL}, http: hc}
	var acc api.AcceptInvitationResponse
	if err := c.do(cmd.Context(), "POST", "/v1/signup", api.SignupRequest{Email: email, Organisation: org}, &acc); err != nil {
		return err
	}
	if err := SaveConfig(Config{APIURL: apiURL, Token: acc.Token, Org: acc.Organisation, CAFile: caFileFlag()}); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Signed up as %s, owner of %s; logged in (saved in %s)\n", acc.Email, acc.Organisation, ConfigPath())
	return nil
}
