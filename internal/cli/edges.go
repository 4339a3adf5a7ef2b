package cli

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// nodesEdgesCmd is `zeitwork nodes edges`: the enrolled edges and their
// regions, with a note for a region no node is in (likely misspelt);
// `zeitwork nodes edges remove EDGE` retires one.
func nodesEdgesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "edges",
		Short: "Show every enrolled edge: host, region (and whether any node is in it), direct transport source, enrolled, last seen, removed",
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
				case !e.RegionKnown && e.RemovedAt == nil:
					region += " (no node)"
					unknown = append(unknown, e.Hostname)
				}
				seen, removed := "", ""
				if e.LastSeenAt != nil {
					seen = since(*e.LastSeenAt)
				}
				if e.RemovedAt != nil {
					removed = since(*e.RemovedAt)
				}
				direct := e.DirectSource
				if direct == "" {
					direct = "-" // the tunnel
				}
				rows = append(rows, []string{e.ID[:8], e.Hostname, region, direct, since(e.EnrolledAt), seen, removed})
			}
			listTable(cmd.OutOrStdout(), []string{"ID", "HOST", "REGION", "DIRECT", "ENROLLED", "LAST SEEN", "REMOVED"}, rows,
				"No edges enrolled: make a join token with `zeitwork nodes join-token --role edge`, then run `zeitwork edge` with it")
			if len(unknown) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "\nNo node is in the region of %s: a misspelt --region means no preference; "+
					"compare with `zeitwork nodes list` and restart the edge with the right one\n", strings.Join(unknown, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(nodesEdgesRemoveCmd())
	return cmd
}

// nodesEdgesRemoveCmd is `zeitwork nodes edges remove EDGE`: a retired or
// stolen edge's token is refused at once and its certificate by every
// node as soon as the node's next long-poll answers (about a second).
func nodesEdgesRemoveCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "remove EDGE",
		Short: "Remove an edge: its token is refused at once, and nodes refuse its certificate and close its tunnels",
		Args:  exactArgs(1, "give the edge's id, a prefix of it, or its hostname (`zeitwork nodes edges`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var e api.RemovedEdge
			if err := c.do(cmd.Context(), "DELETE", "/v1/edges/"+url.PathEscape(args[0]), nil, &e); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), e)
			}
			table(cmd.OutOrStdout(), []string{"EDGE", "HOST", "REMOVED"},
				[][]string{{e.ID, e.Hostname, e.RemovedAt.UTC().Format(time.RFC3339)}})
			fmt.Fprintln(cmd.OutOrStdout(), "\nIts token and certificate are refused; enrol a replacement with "+
				"`zeitwork nodes join-token --role edge` and `zeitwork setup edge --join-token ...`")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
