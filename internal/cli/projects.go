package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func projectsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "projects", Short: "Create, list, update and delete projects"}
	var port, minInstances, memory, vcpus int
	var healthPath string
	var asJSON bool
	var src sourceFlags
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a project",
		Args:  exactArgs(1, "give the project's name, e.g. `zeitwork projects create my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var p api.Project
			err = c.do(cmd.Context(), "POST", "/v1/projects", api.CreateProjectRequest{
				Name: args[0], Port: port, MinInstancesPerRegion: minInstances, HealthPath: healthPath,
				MemoryMiB: memory, VCPUs: vcpus,
			}, &p)
			if err != nil {
				return err
			}
			if req := src.request(cmd); req != nil {
				if err := c.do(cmd.Context(), "PATCH", "/v1/projects/"+p.Name, req, &p); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created project %s; it will be served at %s\n", p.Name, p.URL)
			fmt.Fprintf(cmd.OutOrStdout(), "Git remote: %s (add it with `zeitwork git-remote add %s`, then `git push zeitwork main`)\n",
				gitRemoteURL(c.cfg.APIURL, p.Name), p.Name)
			linkHint(cmd, c, p.Name)
			return nil
		},
	}
	create.Flags().IntVar(&port, "port", 0, "port the app listens on (PORT is set to it; default 8080)")
	create.Flags().IntVar(&minInstances, "min-instances", 0, "instances per region (default 3)")
	create.Flags().IntVar(&memory, "memory", 0, "guest memory per instance in MiB (default 256)")
	create.Flags().IntVar(&vcpus, "vcpus", 0, "virtual CPUs per instance (default 1)")
	create.Flags().StringVar(&healthPath, "health-path", "", "HTTP path that must answer 2xx/3xx (default: a TCP check of the port)")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	src.add(create)

	list := &cobra.Command{
		Use:   "list",
		Short: "List projects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var ps []api.Project
			if err := c.do(cmd.Context(), "GET", "/v1/projects", nil, &ps); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ps)
			}
			rows := [][]string{}
			for _, p := range ps {
				live := p.LiveDeployment
				if live == "" {
					live = "-"
				}
				rows = append(rows, []string{p.Name, p.URL, live, strconv.Itoa(p.MinInstancesPerRegion), since(p.CreatedAt)})
			}
			listTable(cmd.OutOrStdout(), []string{"NAME", "URL", "LIVE", "INSTANCES/REGION", "CREATED"}, rows,
				"No projects yet: create one with `zeitwork projects create NAME`")
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(create, list, projectsShowCmd(), projectsUpdateCmd(), projectsDeleteCmd())
	return cmd
}

// exactArgs is cobra.ExactArgs with a hint.
func exactArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return &UserError{Msg: fmt.Sprintf("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args)), Hint: hint}
		}
		return nil
	}
}
