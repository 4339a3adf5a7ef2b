package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Commands returns the client commands, for cmd/zeitwork to add beside the
// server roles.
func Commands() []*cobra.Command {
	return []*cobra.Command{
		loginCmd(), projectsCmd(), deployCmd(), rollbackCmd(), statusCmd(), logsCmd(), deploymentsCmd(), envCmd(), buildArgsCmd(), buildsCmd(), githubCmd(),
		gitRemoteCmd(), gitCredentialCmd(), registryCmd(), auditCmd(),
	}
}

// printJSON writes v for scripts.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func loginCmd() *cobra.Command {
	var apiURL, token string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Store the operator's API URL and your token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if apiURL == "" || token == "" {
				return &UserError{Msg: "both --api and --token are required", Hint: "zeitwork up prints them"}
			}
			c := &client{cfg: Config{APIURL: apiURL, Token: token}, http: defaultHTTP()}
			var st map[string]any
			if err := c.do(cmd.Context(), "GET", "/v1/status", nil, &st); err != nil {
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
	return cmd
}
