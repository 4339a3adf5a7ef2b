package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// nodesEdgesCmd is `zeitwork nodes edges`: the enrolled edges and their
// regions, with a note for a region no node is in (likely misspelt).
func nodesEdgesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "edges",
		Short: "Show every enrolled edge: host, region (and whether any node is in it), enrolled, last seen",
		Args:  exactArgs(0, "`zeitwork nodes edges` takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var edges []api.Edge
			if err := c.do(cmd.Context(), "GET", "/v1/edges", nil, &edges); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), edges)
			}
			rows := [][]string{}
			var unknown []string
			for _, e := range edges {
				region := e.Region
				switch {
				case region == "":
					region = "-"
				case !e.RegionKnown:
					region += " (no node)"
					unknown = append(unknown, e.Hostname)
				}
				seen := ""
				if e.LastSeenAt != nil {
					seen = since(*e.LastSeenAt)
				}
				rows = append(rows, []string{e.ID[:8], e.Hostname, region, since(e.EnrolledAt), seen})
			}
			table(cmd.OutOrStdout(), []string{"ID", "HOST", "REGION", "ENROLLED", "LAST SEEN"}, rows)
			if len(unknown) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "\nNo node is in the region of %s: a misspelt --region means no preference; "+
					"compare with `zeitwork nodes list` and restart the edge with the right one\n", strings.Join(unknown, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
