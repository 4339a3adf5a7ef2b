package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// nodesCmd holds the installation administrators' node commands.
// edgesAlias is `zeitwork edges`, hidden: the same as `zeitwork nodes
// edges`, for the newcomer who looks for it beside `nodes` and would
// otherwise be pointed at the server role `edge`.
func edgesAlias() *cobra.Command {
	cmd := nodesEdgesCmd()
	cmd.Hidden = true
	return cmd
}

func nodesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Short: "Enrol, list, drain and remove the cluster's nodes and edges (installation administrators)"}
	cmd.AddCommand(nodesListCmd(), nodesDrainCmd(true), nodesDrainCmd(false), nodesJoinTokenCmd(), nodesRemoveCmd(), nodesEdgesCmd())
	return cmd
}

func nodesListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show every node: region, state, driver, capacity used of total, free disk, instances, last heartbeat",
		Args:  exactArgs(0, "`zeitwork nodes list` takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var nodes []api.Node
			if err := c.do(cmd.Context(), "GET", "/v1/nodes", nil, &nodes); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), nodes)
			}
			rows := [][]string{}
			for _, n := range nodes {
				rows = append(rows, []string{n.ID[:8], n.Region, n.Hostname, nodeState(n), n.Driver, accelLabel(n.Accel),
					usedOf(n, func(s *api.Sizes) int { return s.VCPUs }, ""),
					usedOf(n, func(s *api.Sizes) int { return s.MemoryMiB }, " MiB"), diskFree(n),
					strconv.Itoa(n.Instances), since(n.LastHeartbeat)})
			}
			listTable(cmd.OutOrStdout(), []string{"ID", "REGION", "HOST", "STATE", "DRIVER", "ACCEL", "VCPUS", "MEMORY", "DISK FREE", "INSTANCES", "HEARTBEAT"}, rows,
				"No nodes enrolled: make a join token with `zeitwork nodes join-token`, then run `zeitwork node` with it")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// nodeState is ready, down or drained (a drained node may also be down).
func nodeState(n api.Node) string {
	if n.Drained {
		return n.State + ", drained"
	}
	return n.State
}

// diskFree is the free disk of the node's last heartbeat, "?" if it never
// reported one (an older agent): the scheduler places root disks by it.
func diskFree(n api.Node) string {
	if n.DiskFreeMiB == nil {
		return "?"
	}
	return strconv.Itoa(*n.DiskFreeMiB) + " MiB"
}

// usedOf is "used/total" of one resource; "?" stands for an unknown total.
func usedOf(n api.Node, get func(*api.Sizes) int, unit string) string {
	if n.Capacity == nil || n.Used == nil {
		return ""
	}
	total := "?"
	if t := get(n.Capacity); t > 0 {
		total = strconv.Itoa(t)
	}
	return strconv.Itoa(get(n.Used)) + "/" + total + unit
}

// nodesDrainCmd is `nodes drain` (drain true) or `nodes undrain`.
func nodesDrainCmd(drain bool) *cobra.Command {
	verb, short := "drain", "Move a node's instances elsewhere (replacements healthy first) and give it no new ones"
	if !drain {
		verb, short = "undrain", "Let a drained node take new instances again"
	}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   verb + " NODE",
		Short: short,
		Args:  exactArgs(1, "name the node by its ID, an ID prefix or its host name (`zeitwork nodes list`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var n api.Node
			if err := c.do(cmd.Context(), "POST", "/v1/nodes/"+args[0]+"/"+verb, nil, &n); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), n)
			}
			if drain {
				fmt.Fprintf(cmd.OutOrStdout(), "Node %s (%s) is drained: its instances move to other nodes of region %s; "+
					"`zeitwork nodes list` shows when it runs none\n", n.ID[:8], n.Hostname, n.Region)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Node %s (%s) takes new instances again\n", n.ID[:8], n.Hostname)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
