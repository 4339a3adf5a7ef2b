package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// What the dashboard shows of the user's own GitHub account: the linked
// account, the repositories the App reaches for it, and unlinking it.

// githubAccountCmd shows the GitHub account the user signs in with.
func githubAccountCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Show the GitHub account linked to you (signing in to the dashboard with GitHub links it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var id api.GitHubIdentity
			if err := c.do(cmd.Context(), "GET", "/v1/user/github", nil, &id); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), id)
			}
			repos := "yes"
			if !id.CanListRepos {
				repos = "no: sign in to the dashboard with GitHub again"
			}
			table(cmd.OutOrStdout(), []string{"LOGIN", "GITHUB ID", "LINKED", "CAN LIST REPOSITORIES"},
				[][]string{{id.Login, fmt.Sprint(id.ID), since(id.LinkedAt), repos}})
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// githubReposCmd lists the repositories the operator's GitHub App
// reaches for the user, as the dashboard's new-project form does.
func githubReposCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "repos",
		Short: "List the repositories you can build from: those of the GitHub App's installations you can access",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			resp, err := c.raw(cmd.Context(), "GET", "/v1/github/repositories", nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var repos []api.GitHubRepo
			if err := json.NewDecoder(resp.Body).Decode(&repos); err != nil {
				return fmt.Errorf("read repositories: %w", err)
			}
			if resp.Header.Get(api.TruncatedHeader) == "true" {
				fmt.Fprintf(cmd.ErrOrStderr(), "You can reach more repositories than these %d; link one by name with `zeitwork projects update NAME --repo owner/name`\n", len(repos))
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), repos)
			}
			if len(repos) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No repositories: install the operator's GitHub App on the repositories you want to build (its page on GitHub)")
				return nil
			}
			rows := make([][]string, 0, len(repos))
			for _, r := range repos {
				vis := "public"
				if r.Private {
					vis = "private"
				}
				rows = append(rows, []string{r.FullName, vis, r.DefaultBranch})
			}
			table(cmd.OutOrStdout(), []string{"REPOSITORY", "VISIBILITY", "DEFAULT BRANCH"}, rows)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// githubUnlinkCmd unlinks the user's GitHub account and drops its tokens.
func githubUnlinkCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unlink",
		Short: "Unlink your GitHub account: it no longer signs you in, and its GitHub token is dropped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", "/v1/user/github", nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "GitHub account unlinked; signing in to the dashboard with GitHub links it again (by a verified address)")
			return nil
		},
	}
}
