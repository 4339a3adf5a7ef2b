package cli

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func envCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "env", Short: "Manage a project's env vars (encrypted at rest; applied on the next deploy)"}
	set := &cobra.Command{
		Use:   "set PROJECT NAME=VALUE...",
		Short: "Set env vars",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return &UserError{Msg: fmt.Sprintf("%q is not NAME=VALUE", kv)}
				}
				if err := c.do(cmd.Context(), "PUT", "/v1/projects/"+url.PathEscape(args[0])+"/env/"+url.PathEscape(k), api.EnvVar{Value: v}, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Set %s\n", k)
			}
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list PROJECT",
		Short: "List env var names (values are never shown)",
		Args:  exactArgs(1, "give a project name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var vars []api.EnvVar
			if err := c.do(cmd.Context(), "GET", "/v1/projects/"+url.PathEscape(args[0])+"/env", nil, &vars); err != nil {
				return err
			}
			rows := [][]string{}
			for _, v := range vars {
				rows = append(rows, []string{v.Name, since(v.UpdatedAt)})
			}
			table(cmd.OutOrStdout(), []string{"NAME", "UPDATED"}, rows)
			return nil
		},
	}
	unset := &cobra.Command{
		Use:   "unset PROJECT NAME",
		Short: "Remove an env var",
		Args:  exactArgs(2, "zeitwork env unset my-app NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			return c.do(cmd.Context(), "DELETE", "/v1/projects/"+url.PathEscape(args[0])+"/env/"+url.PathEscape(args[1]), nil, nil)
		},
	}
	cmd.AddCommand(set, list, unset)
	return cmd
}
