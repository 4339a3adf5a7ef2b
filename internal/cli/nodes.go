package cli

import "github.com/spf13/cobra"

// nodesCmd groups the commands about the cluster's hosts.
func nodesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Short: "Enrol and remove the cluster's nodes and edges (installation administrators)"}
	cmd.AddCommand(nodesJoinTokenCmd(), nodesRemoveCmd())
	return cmd
}
