package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// watchCmd prints the organisation's change stream (GET /v1/stream), the
// one the dashboard's pages refetch on.
func watchCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print what changes in the organisation as it happens (projects, deployments, instances, ...) until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			req, err := c.request(cmd.Context(), "GET", "/v1/stream", nil)
			if err != nil {
				return err
			}
			req.Header.Set("Accept", "text/event-stream")
			resp, err := c.send(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			// Every change from here on is printed: the stream's start
			// was taken before its answer began.
			fmt.Fprintln(cmd.ErrOrStderr(), "Watching changes (Ctrl-C stops)")
			out := cmd.OutOrStdout()
			return readSSE(resp.Body, func(data string) {
				var ch api.Change
				if json.Unmarshal([]byte(data), &ch) != nil {
					return
				}
				switch {
				case asJSON:
					b, _ := json.Marshal(ch)
					fmt.Fprintln(out, string(b))
				case ch.Kind == "":
					fmt.Fprintf(out, "%s  many changes at once: look again\n", time.Now().Format("15:04:05"))
				default:
					fmt.Fprintf(out, "%s  %-10s  %s  %s\n", time.Now().Format("15:04:05"), ch.Kind, ch.ID, ch.Project)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per change")
	return cmd
}
