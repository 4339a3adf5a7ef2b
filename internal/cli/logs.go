package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func logsCmd() *cobra.Command {
	var followFlag, asJSON, edgeFlag bool
	var tail int
	cmd := &cobra.Command{
		Use:   "logs [DEPLOYMENT | --edge [PROJECT]]",
		Short: "Print a deployment's app logs, or a project's edge access log (-f to follow)",
		Long: "DEPLOYMENT is a deployment id, <id>--<project> as in its URL, or a project name for its live deployment.\n" +
			"With --edge, PROJECT's access log from the edges: one JSON line per request (edges started with --ship-logs; zeitwork up ships them).\n" +
			"Without an argument, the project linked to this directory (`zeitwork link`).",
		Args: maxArgs(1, "give a deployment id (see `zeitwork status`) or a project name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			id, err := projectArg(cmd, c, args, "give a deployment id (see `zeitwork status`) or a project name")
			if err != nil {
				return err
			}
			if edgeFlag {
				return edgeLogs(cmd, c, id, tail, followFlag, asJSON)
			}
			var p api.Project
			if c.do(cmd.Context(), "GET", "/v1/projects/"+url.PathEscape(id), nil, &p) == nil {
				if p.LiveDeployment == "" {
					return &UserError{Msg: "project " + id + " has no live deployment", Hint: "give a deployment id from `zeitwork status`"}
				}
				id = p.LiveDeployment
			}
			q := fmt.Sprintf("/v1/deployments/%s/logs?tail=%d", url.PathEscape(id), tail)
			return printLogLines(cmd, c, q, followFlag, asJSON, func(w io.Writer, l api.LogLine) {
				fmt.Fprintf(w, "%s %s %s\n", l.Time.Local().Format("15:04:05.000"), l.Instance[:8], l.Text)
			})
		},
	}
	cmd.Flags().BoolVarP(&followFlag, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVarP(&tail, "tail", "n", 100, "lines of history to print first (1 to 10000)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	cmd.Flags().BoolVar(&edgeFlag, "edge", false, "print the project's edge access log instead of its app's logs")
	return cmd
}

// edgeLogs prints a project's edge access log lines (each already a JSON
// object; --json wraps it with its time as the API returns it).
func edgeLogs(cmd *cobra.Command, c *client, project string, tail int, follow, asJSON bool) error {
	q := fmt.Sprintf("/v1/projects/%s/edge-logs?tail=%d", url.PathEscape(project), tail)
	return printLogLines(cmd, c, q, follow, asJSON, func(w io.Writer, l api.EdgeLogLine) { fmt.Fprintln(w, l.Text) })
}

// printLogLines prints the log lines of the API path q: the JSON array it
// answers, or with follow its server-sent events as they come. Each line
// is one JSON object with --json, else what text makes of it.
func printLogLines[L any](cmd *cobra.Command, c *client, q string, follow, asJSON bool, text func(io.Writer, L)) error {
	if follow {
		q += "&follow=1"
	}
	resp, err := c.raw(cmd.Context(), "GET", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	w := cmd.OutOrStdout()
	print := func(l L) {
		if asJSON {
			json.NewEncoder(w).Encode(l)
			return
		}
		text(w, l)
	}
	if !follow {
		var lines []L
		if err := json.NewDecoder(resp.Body).Decode(&lines); err != nil {
			return err
		}
		for _, l := range lines {
			print(l)
		}
		return nil
	}
	return readSSE(resp.Body, func(data string) {
		var l L
		if json.Unmarshal([]byte(data), &l) == nil {
			print(l)
		}
	})
}

// readSSE calls fn with the data of each server-sent event.
func readSSE(r io.Reader, fn func(data string)) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 4<<20)
	var data []string
	for s.Scan() {
		line := s.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				fn(strings.Join(data, "\n"))
				data = data[:0]
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return s.Err()
}
