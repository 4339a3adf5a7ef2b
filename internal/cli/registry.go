package cli

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func registryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Manage a project's external registry login (private images, pushing builds there)",
	}
	cmd.AddCommand(registrySetCmd(), registryShowCmd(), registryRemoveCmd())
	return cmd
}

func registryPath(project string) string {
	return "/v1/projects/" + url.PathEscape(project) + "/registry"
}

// maxPasswordInput bounds what --password-stdin reads: the operator
// refuses more anyway.
const maxPasswordInput = 64 << 10

func registrySetCmd() *cobra.Command {
	var in api.RegistryCredentials
	var fromStdin, asJSON bool
	cmd := &cobra.Command{
		Use:   "set PROJECT --host HOST --username USER --password-stdin [--repository HOST/PATH]",
		Short: "Set the project's registry login; with --repository, its builds are pushed there",
		Long: "Set the login the platform uses for the project's images on HOST: to pull them " +
			"(deploy --image HOST/...) and, with --repository, to push the project's builds there " +
			"instead of the built-in registry. The password (or access token) is read from stdin, " +
			"encrypted at rest and never shown again.\n\n" +
			"  echo \"$TOKEN\" | zeitwork registry set web --host ghcr.io --username acme --password-stdin --repository ghcr.io/acme/web",
		Args: exactArgs(1, "give a project name: zeitwork registry set my-app --host HOST --username USER --password-stdin"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if in.Host == "" || in.Username == "" {
				return &UserError{Msg: "--host and --username are required", Hint: "zeitwork registry set " + args[0] + " --host ghcr.io --username USER --password-stdin"}
			}
			if !fromStdin {
				return &UserError{Msg: "the password is read from stdin only, so that it stays out of your shell history and process list",
					Hint: "echo \"$TOKEN\" | zeitwork registry set " + args[0] + " --host " + in.Host + " --username " + in.Username + " --password-stdin"}
			}
			b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxPasswordInput))
			if err != nil {
				return fmt.Errorf("read password from stdin: %w", err)
			}
			in.Password = strings.TrimRight(string(b), "\r\n")
			if in.Password == "" {
				return &UserError{Msg: "no password on stdin", Hint: "pipe the password or token in: echo \"$TOKEN\" | zeitwork registry set ..."}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var out api.RegistryCredentials
			if err := c.do(cmd.Context(), "PUT", registryPath(args[0]), in, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Set the registry login of %s for %s as %s\n", args[0], out.Host, out.Username)
			if out.Repository != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Builds of %s are pushed to %s\n", args[0], out.Repository)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&in.Host, "host", "", "registry host, and port if not 443 (registry.example.com, ghcr.io, host:5000)")
	cmd.Flags().StringVar(&in.Username, "username", "", "registry username")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password or access token from stdin")
	cmd.Flags().StringVar(&in.Repository, "repository", "", "push the project's builds to this repository on HOST (HOST/PATH); empty: the built-in registry")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the stored login (without the password) as JSON")
	return cmd
}

func registryShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show PROJECT",
		Short: "Show the project's registry login (never the password)",
		Args:  exactArgs(1, "give a project name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var r api.RegistryCredentials
			if err := c.do(cmd.Context(), "GET", registryPath(args[0]), nil, &r); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			push := r.Repository
			if push == "" {
				push = "(built-in registry)"
			}
			table(cmd.OutOrStdout(), []string{"HOST", "USERNAME", "PUSH TO", "UPDATED"},
				[][]string{{r.Host, r.Username, push, since(r.UpdatedAt)}})
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func registryRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove PROJECT",
		Short: "Remove the project's registry login; its builds go to the built-in registry again",
		Args:  exactArgs(1, "give a project name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", registryPath(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed the registry login of %s\n", args[0])
			return nil
		},
	}
}
