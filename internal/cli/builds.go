package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func buildsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "builds", Short: "List, show, follow and cancel builds"}
	cmd.AddCommand(buildsListCmd(), buildsShowCmd(), buildsLogsCmd(), buildsCancelCmd(), productionBranchCmd())
	return cmd
}

func buildsListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [PROJECT]",
		Short: "List a project's builds, newest first (default: the linked project's)",
		Args:  maxArgs(1, "give a project name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			project, err := projectArg(cmd, c, args, "give it: `zeitwork builds list my-app`")
			if err != nil {
				return err
			}
			var bs []api.Build
			if err := c.do(cmd.Context(), "GET", "/v1/projects/"+url.PathEscape(project)+"/builds", nil, &bs); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), bs)
			}
			buildsTable(cmd.OutOrStdout(), bs)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func buildsTable(w io.Writer, bs []api.Build) {
	if len(bs) == 0 {
		fmt.Fprintln(w, "No builds yet: `zeitwork deploy -p PROJECT DIR` or a git push builds one")
		return
	}
	rows := [][]string{}
	for _, b := range bs {
		rows = append(rows, []string{b.ID[:8], b.Project, buildSourceLabel(b), b.Status, b.Deployment, since(b.CreatedAt), firstLine(b.Reason)})
	}
	table(w, []string{"BUILD", "PROJECT", "SOURCE", "STATUS", "DEPLOYMENT", "CREATED", "REASON"}, rows)
}

// buildSourceLabel says where a build came from, and marks previews.
func buildSourceLabel(b api.Build) string {
	s := b.Source
	if b.Branch != "" {
		s += " " + b.Branch
	}
	if b.Commit != "" {
		s += "@" + b.Commit[:min(7, len(b.Commit))]
	}
	if b.Preview {
		s += " (preview)"
	}
	return s
}

func buildsShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show BUILD",
		Short: "Show a build: source, status, timings, image and deployment",
		Args:  exactArgs(1, "give a build id (see `zeitwork builds list PROJECT`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var b api.Build
			if err := c.do(cmd.Context(), "GET", "/v1/builds/"+url.PathEscape(args[0]), nil, &b); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), b)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Build %s of %s: %s\n", b.ID, b.Project, b.Status)
			if b.Reason != "" {
				fmt.Fprintf(w, "  reason:     %s\n", b.Reason)
			}
			fmt.Fprintf(w, "  source:     %s\n", buildSourceLabel(b))
			if b.CommitMessage != "" {
				fmt.Fprintf(w, "  commit:     %s (%s)\n", firstLine(b.CommitMessage), b.CommitAuthor)
			}
			fmt.Fprintf(w, "  dockerfile: %s\n", b.Dockerfile)
			if b.Image != "" {
				fmt.Fprintf(w, "  image:      %s\n", b.Image)
			} else if b.Digest != "" {
				fmt.Fprintf(w, "  image:      %s\n", b.Digest)
			}
			if b.Deployment != "" {
				fmt.Fprintf(w, "  deployment: %s\n", b.Deployment)
			}
			fmt.Fprintf(w, "  timings:    %s\n", timingsLine(b.Timings))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func timingsLine(t map[string]int64) string {
	if len(t) == 0 {
		return "-"
	}
	order := map[string]int{"receive": 0, "fetch": 1, "extract": 2, "build": 3, "push": 4, "push_external": 5, "deploy": 6}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	// The stages in the order they run; any other a backend reports after
	// them, by name.
	rank := func(k string) int {
		if r, ok := order[k]; ok {
			return r
		}
		return len(order)
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	parts := []string{}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.1fs", k, float64(t[k])/1000))
	}
	return strings.Join(parts, ", ")
}

func buildsLogsCmd() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs BUILD",
		Short: "Print a build's log; -f follows it until the build ends",
		Args:  exactArgs(1, "give a build id (see `zeitwork builds list PROJECT`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if follow {
				_, err := followBuild(cmd.Context(), c, args[0], func(l api.BuildLogLine) { fmt.Fprintln(w, l.Text) })
				return err
			}
			var lines []api.BuildLogLine
			if err := c.do(cmd.Context(), "GET", "/v1/builds/"+url.PathEscape(args[0])+"/logs", nil, &lines); err != nil {
				return err
			}
			for _, l := range lines {
				fmt.Fprintln(w, l.Text)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log until the build ends")
	return cmd
}

func buildsCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel BUILD",
		Short: "Cancel a queued or running build",
		Args:  exactArgs(1, "give a build id (see `zeitwork builds list PROJECT`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var b api.Build
			if err := c.do(cmd.Context(), "POST", "/v1/builds/"+url.PathEscape(args[0])+"/cancel", nil, &b); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Build %s cancelled\n", b.ID)
			return nil
		},
	}
}

// followBuild streams a build's log (server-sent events) to onLine until
// the build ends, and returns the ended build.
func followBuild(ctx context.Context, c *client, id string, onLine func(api.BuildLogLine)) (api.Build, error) {
	var b api.Build
	req, err := c.request(ctx, "GET", "/v1/builds/"+url.PathEscape(id)+"/logs", nil)
	if err != nil {
		return b, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.send(req)
	if err != nil {
		return b, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if event == "end" {
			err := json.Unmarshal([]byte(data), &b)
			return b, err
		}
		var l api.BuildLogLine
		if json.Unmarshal([]byte(data), &l) == nil {
			onLine(l)
		}
	}
	if err := sc.Err(); err != nil {
		return b, fmt.Errorf("follow build %s: %w", id, err)
	}
	return b, &UserError{Msg: "the build log ended before the build did",
		Hint: "check it with `zeitwork builds show " + id + "`"}
}

// buildError is the CLI error for a build that did not succeed.
func buildError(b api.Build) error {
	return &UserError{Msg: fmt.Sprintf("build %s %s: %s", b.ID[:8], b.Status, firstLine(b.Reason)),
		Hint: "see the whole log with `zeitwork builds logs " + b.ID + "`"}
}

func productionBranchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "production-branch PROJECT BRANCH",
		Short: "Set the branch whose builds go live; builds of other branches make previews",
		Args:  exactArgs(2, "give a project and a branch, e.g. my-app main"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var p api.Project
			if err := c.do(cmd.Context(), "PATCH", "/v1/projects/"+url.PathEscape(args[0]),
				api.UpdateProjectRequest{ProductionBranch: &args[1]}, &p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Builds of %s now go live on %s; other branches make previews\n", p.ProductionBranch, p.URL)
			return nil
		},
	}
}
