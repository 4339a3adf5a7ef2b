package cli

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func deploymentsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployments", Short: "List, show and delete deployments, and show their events"}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [PROJECT]",
		Short: "List a project's deployments (default: the linked project's)",
		Args:  maxArgs(1, "give a project name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			project, err := projectArg(cmd, c, args, "give it: `zeitwork deployments list my-app`")
			if err != nil {
				return err
			}
			var ds []api.Deployment
			if err := c.do(cmd.Context(), "GET", "/v1/projects/"+url.PathEscape(project)+"/deployments", nil, &ds); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ds)
			}
			rows := [][]string{}
			for _, d := range ds {
				live := ""
				if d.Live {
					live = "live"
				} else if d.Preview {
					live = "preview"
				}
				rows = append(rows, []string{d.ID, statusLabel(d), live, d.Image, since(d.CreatedAt), d.Reason})
			}
			listTable(cmd.OutOrStdout(), []string{"ID", "STATUS", "", "IMAGE", "CREATED", "REASON"}, rows,
				fmt.Sprintf("No deployments of %s yet: deploy with `zeitwork deploy -p %s [DIR]`", project, project))
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	del := &cobra.Command{
		Use:   "delete DEPLOYMENT",
		Short: "Stop a deployment and remove its instances",
		Args:  exactArgs(1, "give a deployment id (see `zeitwork status`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var d api.Deployment
			if err := c.do(cmd.Context(), "DELETE", "/v1/deployments/"+url.PathEscape(args[0]), nil, &d); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deployment %s stopped; its instances are being removed\n", d.ID)
			return nil
		},
	}
	events := &cobra.Command{
		Use:   "events DEPLOYMENT",
		Short: "Show a deployment's timeline: creation, image, placements, instance states, ready or failed",
		Args:  exactArgs(1, "give a deployment id (see `zeitwork deployments list PROJECT`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			all := []api.DeploymentEvent{}
			for {
				var page []api.DeploymentEvent
				path := "/v1/deployments/" + url.PathEscape(args[0]) + "/events"
				if len(all) > 0 {
					path += "?after=" + strconv.FormatInt(all[len(all)-1].ID, 10)
				}
				if err := c.do(cmd.Context(), "GET", path, nil, &page); err != nil {
					return err
				}
				all = append(all, page...)
				if len(page) < 500 {
					break
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), all)
			}
			rows := [][]string{}
			for _, e := range all {
				inst := e.Instance
				if len(inst) > 8 {
					inst = inst[:8]
				}
				rows = append(rows, []string{e.Time.Local().Format("2006-01-02 15:04:05"), e.Kind, inst, e.Message})
			}
			table(cmd.OutOrStdout(), []string{"TIME", "KIND", "INSTANCE", "MESSAGE"}, rows)
			return nil
		},
	}
	events.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show := &cobra.Command{
		Use:   "show DEPLOYMENT",
		Short: "Show a deployment and its instances: state, node, address, restarts, boot times, host memory and CPU",
		Args:  exactArgs(1, "give a deployment id (see `zeitwork status`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var d api.Deployment
			if err := c.do(cmd.Context(), "GET", "/v1/deployments/"+url.PathEscape(args[0]), nil, &d); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), d)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Deployment %s of %s: %s", d.ID, d.Project, statusLabel(d))
			if d.Live {
				fmt.Fprint(w, " (live)")
			}
			fmt.Fprintf(w, "\nImage:  %s\nURL:    %s\n", d.Image, d.URL)
			if d.Reason != "" {
				fmt.Fprintf(w, "Reason: %s\n", d.Reason)
			}
			if d.ScalesToZero {
				last := "none yet"
				if d.LastRequest != nil {
					last = since(*d.LastRequest)
				}
				fmt.Fprintf(w, "Scales to zero when idle; last request: %s\n", last)
			}
			fmt.Fprintln(w)
			rows := [][]string{}
			for _, in := range d.Instances {
				node := in.Node
				if len(node) > 8 {
					node = node[:8]
				}
				boot := "-"
				if ms, ok := in.BootTimings["vm_to_healthy"]; ok {
					boot = fmt.Sprintf("%.1fs", ms/1000)
				}
				if _, ok := in.BootTimings["template_restore"]; ok {
					boot += " (restored)" // from a VM template, not booted
				}
				uss, shared, cpu := usageColumns(in.Usage)
				rows = append(rows, []string{in.ID[:8], in.Region, node, in.State, in.Desired, in.Address,
					fmt.Sprint(in.Restarts), boot, uss, shared, cpu, in.Reason})
			}
			table(w, []string{"INSTANCE", "REGION", "NODE", "STATE", "DESIRED", "ADDRESS", "RESTARTS", "BOOT",
				"UNIQUE MEM", "SHARED MEM", "HOST CPU", "REASON"}, rows)
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list, show, events, del)
	return cmd
}

// usageColumns formats an instance's VM usage for the table: unique and
// shared host memory in MiB (--json has RSS and PSS too) and host CPU in
// percent of one core; "-" when the node has not reported them.
func usageColumns(u *api.InstanceUsage) (uss, shared, cpu string) {
	if u == nil {
		return "-", "-", "-"
	}
	mib := func(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	cpu = "-"
	if u.CPUPercent != nil {
		cpu = fmt.Sprintf("%.2f%%", *u.CPUPercent)
	}
	return mib(u.USSBytes), mib(u.SharedBytes), cpu
}
