package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
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
	tail, err := strconv.Atoi(r.URL.Query().Get("tail"))
	if err != nil || tail <= 0 || tail > 10000 {
		tail = 100
	}
	recent, err := o.store.ListRecentLogLines(r.Context(), db.ListRecentLogLinesParams{DeploymentID: d.ID, Limit: int32(tail)})
	if err != nil {
		return err
	}
	if r.URL.Query().Get("follow") == "" {
		out := []api.LogLine{}
		for _, l := range recent {
			out = append(out, logJSON(l))
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}

	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("streaming unsupported by the response writer")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	var last int64
	send := func(lines []db.LogLine) {
		for _, l := range lines {
			b, _ := json.Marshal(logJSON(l))
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", l.ID, b)
			last = l.ID
		}
		flusher.Flush()
	}
	send(recent)
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		wake := o.hub.Logs()
		lines, err := o.store.ListLogLines(r.Context(), db.ListLogLinesParams{DeploymentID: d.ID, ID: last, Limit: 1000})
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
