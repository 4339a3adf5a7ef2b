package cli

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func envCmd() *cobra.Command {
	return varsCmd(varsKind{use: "env", path: "env", what: "env var",
		short: "Manage a project's env vars (encrypted at rest; applied on the next deploy)"})
}

func buildArgsCmd() *cobra.Command {
	return varsCmd(varsKind{use: "build-args", path: "build-args", what: "build arg",
		short: "Manage a project's build args (--build-arg; encrypted at rest; the only project values a build sees)"})
}

// varsKind is one kind of a project's sealed name=value pairs: env vars
// or build args, which share their commands.
type varsKind struct {
	use   string // command name
	path  string // under /v1/projects/{project}/
	what  string // "env var"
	short string
}

func varsCmd(k varsKind) *cobra.Command {
	cmd := &cobra.Command{Use: k.use, Short: k.short}
	var asJSON bool
	base := func(project string) string { return "/v1/projects/" + url.PathEscape(project) + "/" + k.path }
	set := &cobra.Command{
		Use:   "set [PROJECT] NAME=VALUE...",
		Short: "Set " + k.what + "s (without PROJECT, the linked project's)",
		Args:  minArgs(1, "zeitwork "+k.use+" set my-app NAME=VALUE..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A first argument with "=" is a pair: the project is the linked one.
			named := args[:1]
			if strings.Contains(args[0], "=") {
				named = nil
			}
			pairs, err := parsePairs(args[len(named):], k.use)
			if err != nil {
				return err // before any is set, so that a typo sets none
			}
			if len(pairs) == 0 {
				return &UserError{Msg: "no NAME=VALUE given", Hint: "zeitwork " + k.use + " set my-app NAME=VALUE..."}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			project, err := projectArg(cmd, c, named, "give it: `zeitwork "+k.use+" set my-app NAME=VALUE`")
			if err != nil {
				return err
			}
			for _, p := range pairs {
				// The value is sent even when empty: an absent one is refused.
				if err := c.do(cmd.Context(), "PUT", base(project)+"/"+url.PathEscape(p.Name), setVarRequest{Value: p.Value}, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Set %s\n", p.Name)
			}
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list [PROJECT]",
		Short: "List " + k.what + " names (values are never shown)",
		Args:  maxArgs(1, "give a project name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			project, err := projectArg(cmd, c, args, "give it: `zeitwork "+k.use+" list my-app`")
			if err != nil {
				return err
			}
			var vars []api.EnvVar
			if err := c.do(cmd.Context(), "GET", base(project), nil, &vars); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), nonNil(vars))
			}
			rows := [][]string{}
			for _, v := range vars {
				rows = append(rows, []string{v.Name, since(v.UpdatedAt)})
			}
			listTable(cmd.OutOrStdout(), []string{"NAME", "UPDATED"}, rows,
				fmt.Sprintf("No %ss on %s: set one with `zeitwork %s set %s NAME=VALUE`", k.what, project, k.use, project))
			return nil
		},
	}
	unset := &cobra.Command{
		Use:   "unset [PROJECT] NAME",
		Short: "Remove " + article(k.what) + " " + k.what + " (without PROJECT, the linked project's)",
		Args:  rangeArgs(1, 2, "zeitwork "+k.use+" unset my-app NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			name := args[len(args)-1]
			project, err := projectArg(cmd, c, args[:len(args)-1], "give it: `zeitwork "+k.use+" unset my-app "+name+"`")
			if err != nil {
				return err
			}
			return c.do(cmd.Context(), "DELETE", base(project)+"/"+url.PathEscape(name), nil, nil)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON (names and when each was set; never values)")
	cmd.AddCommand(set, list, unset)
	return cmd
}

// parsePairs splits NAME=VALUE arguments, refusing one without "=" or
// without a name.
func parsePairs(args []string, use string) ([]api.EnvVar, error) {
	pairs := make([]api.EnvVar, 0, len(args))
	for _, kv := range args {
		name, v, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, &UserError{Msg: fmt.Sprintf("%q is not NAME=VALUE", kv),
				Hint: fmt.Sprintf("zeitwork %s set my-app NAME=VALUE, e.g. DATABASE_URL=postgres://...", use)}
		}
		pairs = append(pairs, api.EnvVar{Name: name, Value: v})
	}
	return pairs, nil
}

func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an"
	}
	return "a"
}

// setVarRequest is the body of PUT .../env/NAME: unlike api.EnvVar it
// sends an empty value, which the operator tells from a missing one.
type setVarRequest struct {
	Value string `json:"value"`
}
