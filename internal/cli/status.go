package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show nodes, projects, recent deployments with their instances, and running builds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var st api.Status
			if err := c.do(cmd.Context(), "GET", "/v1/status", nil, &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "NODES")
			rows := [][]string{}
			for _, n := range st.Nodes {
				rows = append(rows, []string{n.ID[:8], n.Region, n.Hostname, n.Driver, accelLabel(n.Accel), n.State,
					strconv.Itoa(n.Instances), since(n.LastHeartbeat)})
			}
			listTable(w, []string{"ID", "REGION", "HOST", "DRIVER", "ACCEL", "STATE", "INSTANCES", "HEARTBEAT"}, rows,
				"No nodes enrolled: nothing can run until one is (installation administrators: `zeitwork nodes join-token`)")
			fmt.Fprintln(w, "\nDEPLOYMENTS")
			rows = rows[:0]
			for _, d := range st.Recent {
				healthy := 0
				for _, in := range d.Instances {
					if in.State == api.InstanceHealthy {
						healthy++
					}
				}
				live := ""
				if d.Live {
					live = "live"
				} else if d.Preview {
					live = "preview"
				}
				rows = append(rows, []string{d.Project, d.ID, statusLabel(d), live, fmt.Sprintf("%d/%d", healthy, len(d.Instances)), d.URL, d.Reason})
			}
			listTable(w, []string{"PROJECT", "DEPLOYMENT", "STATUS", "", "HEALTHY", "URL", "REASON"}, rows,
				"No deployments yet: `zeitwork deploy -p PROJECT [DIR]` makes one")
			if len(st.UnderServed) > 0 {
				fmt.Fprintln(w, "\nUNDER-SERVED REGIONS")
				for _, u := range st.UnderServed {
					fmt.Fprintf(w, "%s %s: %s\n", u.Project, u.Deployment, u.Message)
				}
			}
			if len(st.Builds) > 0 {
				fmt.Fprintln(w, "\nBUILDS")
				buildsTable(w, st.Builds)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// accelLabel says plainly what the accelerator means for speed.
func accelLabel(a string) string {
	switch a {
	case "kvm":
		return "kvm"
	case "tcg":
		return "tcg (software emulation)"
	}
	return a
}
