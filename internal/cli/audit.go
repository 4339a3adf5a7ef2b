package cli

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func auditCmd() *cobra.Command {
	var project, sinceFlag string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show your organisation's audit log: who changed what, when, from where, and how it ended",
		Long: `Show your organisation's audit log, newest first: every request that
changed something (projects, deployments, env vars, builds, git pushes,
GitHub deliveries), refused and failed ones included. Env var values are
never recorded, only their names.`,
		Example: "  zeitwork audit --project web --since 24h\n  zeitwork audit --since 2026-11-29T09:00:00Z --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := auditQuery(project, sinceFlag, limit)
			if err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var page api.AuditPage
			if err := c.do(cmd.Context(), "GET", "/v1/audit?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), page.Entries)
			}
			auditTable(cmd.OutOrStdout(), page.Entries)
			if page.Next != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "(newest %d shown; narrow with --since or --project, or raise --limit up to 500)\n", len(page.Entries))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "only this project's entries")
	cmd.Flags().StringVar(&sinceFlag, "since", "", "only entries since a duration ago (1h, 30m) or a time (RFC 3339)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many entries (1 to 500)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// auditQuery checks the flags before asking, so that a typo is explained
// here rather than by the operator.
func auditQuery(project, since string, limit int) (url.Values, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if limit < 1 || limit > 500 {
		return nil, &UserError{Msg: fmt.Sprintf("invalid --limit %d", limit), Hint: "give 1 to 500"}
	}
	if project != "" {
		q.Set("project", project)
	}
	if since != "" {
		_, derr := time.ParseDuration(since)
		_, terr := time.Parse(time.RFC3339, since)
		if derr != nil && terr != nil {
			return nil, &UserError{Msg: fmt.Sprintf("invalid --since %q", since),
				Hint: "give a duration such as 1h or 30m, or a time such as 2026-11-29T15:00:00Z"}
		}
		q.Set("since", since)
	}
	return q, nil
}

func auditTable(w io.Writer, entries []api.AuditEntry) {
	rows := [][]string{}
	for _, e := range entries {
		rows = append(rows, []string{e.Time.Local().Format("2006-01-02 15:04:05"), auditActorLabel(e.Actor), e.Action,
			auditObjectLabel(e), e.Project, e.ClientAddr, auditOutcome(e)})
	}
	listTable(w, []string{"TIME", "ACTOR", "ACTION", "OBJECT", "PROJECT", "FROM", "OUTCOME"}, rows,
		"No audit entries match (--since and --project narrow the search)")
}

// auditActorLabel is the user and token (and role, where there are
// roles), or the system actor.
func auditActorLabel(a api.AuditActor) string {
	var s string
	switch {
	case a.User != "":
		s = a.User
	case a.UserID != "":
		s = "user " + a.UserID[:min(8, len(a.UserID))]
	default:
		return a.Kind
	}
	if a.Token != "" {
		s += " (" + a.Token + ")"
	}
	if a.Role != "" {
		s += " as " + a.Role
	}
	return s
}

func auditObjectLabel(e api.AuditEntry) string {
	if e.ObjectKind == "" {
		return e.Object
	}
	return e.ObjectKind + " " + e.Object
}

// auditOutcome is the status and, for a refusal or failure, why.
func auditOutcome(e api.AuditEntry) string {
	s := strconv.Itoa(e.Status)
	if e.Error != "" {
		s += " " + strings.Join(strings.Fields(e.Error), " ")
	}
	return s
}
