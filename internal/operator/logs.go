package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/tokenbucket"
)

func (o *Operator) insertLogs(ctx context.Context, rows [][]any) error {
	_, err := o.store.Pool.CopyFrom(ctx, pgx.Identifier{"log_lines"},
		[]string{"deployment_id", "instance_id", "stream", "logged_at", "line"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("store log lines: %w", err)
	}
	return nil
}

// streamLogs sends a deployment's recent log lines, then (with ?follow=1)
// new ones as they arrive, as server-sent events. Without follow it answers
// with a JSON array.
func (o *Operator) streamLogs(w http.ResponseWriter, r *http.Request) error {
	_, d, err := o.deployment(r)
	if err != nil {
		return err
	}
	return serveLogLines(o, w, r, logLineSource[db.LogLine]{
		recent: func(limit int32) ([]db.LogLine, error) {
			return o.store.ListRecentLogLines(r.Context(), db.ListRecentLogLinesParams{DeploymentID: d.ID, Limit: limit})
		},
		after: func(id int64) ([]db.LogLine, error) {
			return o.store.ListLogLines(r.Context(), db.ListLogLinesParams{DeploymentID: d.ID, ID: id, Limit: 1000})
		},
		id:     func(l db.LogLine) int64 { return l.ID },
		toJSON: func(l db.LogLine) any { return logJSON(l) },
	})
}

// logLineSource is where serveLogLines reads one kind of stored log line.
type logLineSource[L any] struct {
	recent func(limit int32) ([]L, error) // the newest lines, oldest first
	after  func(id int64) ([]L, error)    // lines stored after id
	id     func(L) int64
	toJSON func(L) any
}

// serveLogLines answers a log request: the last ?tail= lines (default 100,
// 1 to 10000; anything else is 400) as a JSON array, or with ?follow=1 those and then new
// ones as server-sent events, woken by the hub's log notifications.
func serveLogLines[L any](o *Operator, w http.ResponseWriter, r *http.Request, src logLineSource[L]) error {
	tail, err := queryInt(r, "tail", 100, 1, 10000)
	if err != nil {
		return err
	}
	recent, err := src.recent(int32(tail))
	if err != nil {
		return err
	}
	if r.URL.Query().Get("follow") == "" {
		out := []any{}
		for _, l := range recent {
			out = append(out, src.toJSON(l))
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}

	flusher, err := startEventStream(w)
	if err != nil {
		return err
	}
	var last int64
	send := func(lines []L) {
		for _, l := range lines {
			b, _ := json.Marshal(src.toJSON(l))
			last = src.id(l)
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", last, b)
		}
		flusher.Flush()
	}
	send(recent)
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		wake := o.hub.Logs()
		lines, err := src.after(last)
		if err != nil {
			return nil // the client went away or the database did; the stream just ends
		}
		if len(lines) > 0 {
			send(lines)
			continue
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-wake:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		}
	}
}

func logJSON(l db.LogLine) api.LogLine {
	return api.LogLine{Instance: l.InstanceID.String(), Stream: l.Stream, Time: l.LoggedAt, Text: l.Line}
}

// logQuota keeps a token bucket of log lines per project: a project's
// nodes together may store LogLinesPerSecond lines a second (LogBurst at
// once), however many instances and nodes it has.
type logQuota struct {
	mu      sync.Mutex
	buckets map[uuid.UUID]*tokenbucket.Bucket
}

// take returns how many of n lines the project may store now.
func (q *logQuota) take(project uuid.UUID, n int, rate float64, burst int) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	if q.buckets == nil {
		q.buckets = map[uuid.UUID]*tokenbucket.Bucket{}
	}
	if len(q.buckets) > 10000 { // forget the projects that have refilled
		for id, b := range q.buckets {
			if b.Full(now) {
				delete(q.buckets, id)
			}
		}
	}
	b, ok := q.buckets[project]
	if !ok {
		b = tokenbucket.New(rate, burst, now)
		q.buckets[project] = b
	}
	for i := range n {
		if !b.Allow(now) {
			return i
		}
	}
	return n
}

// maxStoredLine bounds one stored log line whatever a node sends.
const maxStoredLine = 16 << 10

// logSource is what a shipped line's instance resolves to.
type logSource struct {
	deployment, project uuid.UUID
	ok                  bool
}

// admitLogs turns a node's batch into rows: lines of instances that are
// not the node's are dropped, lines over their project's rate limit are
// counted and replaced by one line per instance saying how many were
// dropped, and each line is cut to maxStoredLine.
func (o *Operator) admitLogs(ctx context.Context, nodeID uuid.UUID, lines []api.LogLine) [][]any {
	sources := map[string]logSource{}
	byInstance := map[string][]api.LogLine{}
	var order []string
	for _, l := range lines {
		src, seen := sources[l.Instance]
		if !seen {
			src = o.logSource(ctx, nodeID, l.Instance)
			sources[l.Instance] = src
			if src.ok {
				order = append(order, l.Instance)
			}
		}
		if src.ok {
			byInstance[l.Instance] = append(byInstance[l.Instance], l)
		}
	}
	rows := [][]any{}
	for _, inst := range order {
		src, ls := sources[inst], byInstance[inst]
		keep := o.logQuota.take(src.project, len(ls), o.cfg.LogLinesPerSecond, o.cfg.LogBurst)
		id := uuid.MustParse(inst)
		for _, l := range ls[:keep] {
			text := l.Text
			if len(text) > maxStoredLine {
				text = text[:maxStoredLine] + " [truncated]"
			}
			rows = append(rows, []any{src.deployment, id, l.Stream, l.Time, strings.ToValidUTF8(text, "?")})
		}
		if dropped := len(ls) - keep; dropped > 0 {
			o.metrics.logsDropped.Add(float64(dropped))
			rows = append(rows, []any{src.deployment, id, "stderr", time.Now().UTC(),
				fmt.Sprintf("zeitwork: dropped %d lines (project log rate limit)", dropped)})
		}
	}
	return rows
}

// logSource resolves an instance a node ships lines for; lines of another
// node's instance are not stored.
func (o *Operator) logSource(ctx context.Context, nodeID uuid.UUID, instance string) logSource {
	id, err := uuid.Parse(instance)
	if err != nil {
		return logSource{}
	}
	in, err := o.store.GetInstance(ctx, id)
	if err != nil || !in.NodeID.Valid || in.NodeID.UUID != nodeID {
		return logSource{}
	}
	d, err := o.store.GetDeployment(ctx, in.DeploymentID)
	if err != nil {
		return logSource{}
	}
	return logSource{deployment: d.ID, project: d.ProjectID, ok: true}
}

// startEventStream answers with server-sent events: it sends the headers
// and returns the flusher each event is pushed out with.
func startEventStream(w http.ResponseWriter) (http.Flusher, error) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return nil, fmt.Errorf("streaming unsupported by the response writer")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return flusher, nil
}
