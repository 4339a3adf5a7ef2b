package operator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// shipEdgeLogs stores an edge's batch of access log lines. Lines of
// projects that do not exist (any more) are dropped; each project's lines
// pass its own token bucket (the app's log limit, counted apart), and each
// line is cut to maxStoredLine.
func (o *Operator) shipEdgeLogs(w http.ResponseWriter, r *http.Request) error {
	var batch api.EdgeLogBatch
	if err := readJSONLimit(r, &batch, 4<<20); err != nil {
		return err
	}
	rows := o.admitEdgeLogs(r.Context(), batch.Lines)
	if len(rows) > 0 {
		_, err := o.store.Pool.CopyFrom(r.Context(), pgx.Identifier{"edge_log_lines"},
			[]string{"project_id", "logged_at", "line"}, pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("store edge log lines: %w", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (o *Operator) admitEdgeLogs(ctx context.Context, lines []api.EdgeLogLine) [][]any {
	projects := map[string]uuid.UUID{} // uuid.Nil: unknown
	byProject := map[uuid.UUID][]api.EdgeLogLine{}
	var order []uuid.UUID
	for _, l := range lines {
		id, seen := projects[l.Project]
		if !seen {
			if p, err := o.store.GetProjectByNameAnyOrganisation(ctx, l.Project); err == nil {
				id = p.ID
				order = append(order, id)
			}
			projects[l.Project] = id
		}
		if id != uuid.Nil {
			byProject[id] = append(byProject[id], l)
		}
	}
	rows := [][]any{}
	for _, id := range order {
		ls := byProject[id]
		keep := o.edgeLogQuota.take(id, len(ls), o.cfg.LogLinesPerSecond, o.cfg.LogBurst)
		for _, l := range ls[:keep] {
			text := l.Text
			if len(text) > maxStoredLine {
				text = text[:maxStoredLine] + " [truncated]"
			}
			rows = append(rows, []any{id, l.Time, strings.ToValidUTF8(text, "?")})
		}
		if dropped := len(ls) - keep; dropped > 0 {
			rows = append(rows, []any{id, time.Now().UTC(),
				fmt.Sprintf("zeitwork: dropped %d edge log lines (project log rate limit)", dropped)})
		}
	}
	return rows
}

// edgeLogs sends a project's recent edge access log lines as a JSON array,
// or with ?follow=1 those and then new ones as server-sent events.
func (o *Operator) edgeLogs(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	return serveLogLines(o, w, r, logLineSource[db.EdgeLogLine]{
		recent: func(limit int32) ([]db.EdgeLogLine, error) {
			return o.store.ListRecentEdgeLogLines(r.Context(), db.ListRecentEdgeLogLinesParams{ProjectID: p.ID, Limit: limit})
		},
		after: func(id int64) ([]db.EdgeLogLine, error) {
			return o.store.ListEdgeLogLines(r.Context(), db.ListEdgeLogLinesParams{ProjectID: p.ID, ID: id, Limit: 1000})
		},
		id:     func(l db.EdgeLogLine) int64 { return l.ID },
		toJSON: func(l db.EdgeLogLine) any { return edgeLogJSON(l) },
	})
}

func edgeLogJSON(l db.EdgeLogLine) api.EdgeLogLine {
	return api.EdgeLogLine{Time: l.LoggedAt, Text: l.Line}
}
