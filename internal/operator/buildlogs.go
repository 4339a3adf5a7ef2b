package operator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator/buildstate"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// buildLogs answers with a build's log lines after ?after=ID as a JSON
// array or, for Accept: text/event-stream, as server-sent events that
// follow the log until the build ends; the last event ("end") carries the
// build.
func (o *Operator) buildLogs(w http.ResponseWriter, r *http.Request) error {
	p, b, err := o.build(r)
	if err != nil {
		return err
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		lines, err := o.store.ListBuildLogLines(r.Context(), db.ListBuildLogLinesParams{BuildID: b.ID, ID: after, Limit: int32(o.cfg.BuildLogMaxLines + 10)})
		if err != nil {
			return err
		}
		out := []api.BuildLogLine{}
		for _, l := range lines {
			out = append(out, buildLogJSON(l))
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	flusher, err := startEventStream(w)
	if err != nil {
		return err
	}
	last := after
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		logs := o.hub.Logs()
		_, changed := o.hub.Version()
		// Read the status before the lines: lines written before the
		// build ended are then all sent before "end".
		cur, err := o.store.GetBuild(r.Context(), b.ID)
		if err != nil {
			return nil // the client or the database went away; the stream ends
		}
		lines, err := o.store.ListBuildLogLines(r.Context(), db.ListBuildLogLinesParams{BuildID: b.ID, ID: last, Limit: 1000})
		if err != nil {
			return nil
		}
		for _, l := range lines {
			data, _ := json.Marshal(buildLogJSON(l))
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", l.ID, data)
			last = l.ID
		}
		if len(lines) == 1000 {
			flusher.Flush()
			continue
		}
		if buildstate.Final(cur.Status) {
			data, _ := json.Marshal(o.buildJSON(p, cur, o.deploymentSlug(r.Context(), cur)))
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", data)
			flusher.Flush()
			return nil
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return nil
		case <-logs:
		case <-changed:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		}
	}
}

func buildLogJSON(l db.BuildLogLine) api.BuildLogLine {
	return api.BuildLogLine{ID: l.ID, Time: l.LoggedAt, Text: l.Line}
}
