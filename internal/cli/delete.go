package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// confirmName asks the user to type name before something is deleted for
// good, unless --yes was given. The prompt goes to stderr, so that --json
// keeps stdout to the answer.
func confirmName(cmd *cobra.Command, kind, name, consequences string) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "This deletes %s %s for good: %s.\nType its name to confirm: ", kind, name, consequences)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	typed := strings.TrimSpace(line)
	if typed == name {
		return nil
	}
	if typed == "" && err != nil {
		read := "input ended"
		if !errors.Is(err, io.EOF) {
			read = err.Error()
		}
		return &UserError{Msg: fmt.Sprintf("no confirmation read (%s); %s %s was not deleted", read, kind, name),
			Hint: "type the name when asked, or pass --yes in scripts"}
	}
	return &UserError{Msg: fmt.Sprintf("%q is not %q; %s %s was not deleted", typed, name, kind, name),
		Hint: "type the name exactly, or pass --yes"}
}

func projectsDeleteCmd() *cobra.Command {
	var yes, asJSON bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a project: stop its deployments, cancel its builds, free its name",
		Long: "Delete a project at once: its deployments stop and its URLs stop answering, its queued and\n" +
			"running builds are cancelled, its env vars, build args, registry login, GitHub link and images\n" +
			"in the built-in registry are removed, and its name becomes free. The audit log keeps its entries.",
		Args: exactArgs(1, "give the project's name, e.g. `zeitwork projects delete my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			name := args[0]
			if !yes {
				if err := confirmName(cmd, "project", name, "its deployments stop, its URLs stop answering, its env vars and images are removed"); err != nil {
					return err
				}
			}
			var out api.DeletedProject
			if err := c.do(cmd.Context(), "DELETE", "/v1/projects/"+url.PathEscape(name), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted project %s: %d deployment(s) stopped, %d build(s) cancelled; the name is free again\n",
				out.Name, out.StoppedDeployments, out.CancelledBuilds)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask to type the name")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func orgsDeleteCmd() *cobra.Command {
	var yes, asJSON bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an organisation that has no projects left (owners only)",
		Long: "Delete an organisation. It must have no projects (delete them first with `zeitwork projects delete`).\n" +
			"Its memberships, invitations and the tokens tied to it end at once; its members keep their\n" +
			"accounts and their other organisations.",
		Args: exactArgs(1, "give the organisation's name, e.g. `zeitwork orgs delete my-team`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			name := args[0]
			if !yes {
				if err := confirmName(cmd, "organisation", name, "its members lose access and its invitations and tokens end"); err != nil {
					return err
				}
			}
			var out api.DeletedOrganisation
			if err := c.do(withOrg(cmd.Context(), name), "DELETE", "/v1/orgs/"+url.PathEscape(name), nil, &out); err != nil {
				return err
			}
			if cfg, err := loadConfig(); err == nil && cfg.Org == name {
				cfg.Org = ""
				if err := SaveConfig(cfg); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted organisation %s; its %d member(s) lost access to it\n", out.Name, out.Members)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask to type the name")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
