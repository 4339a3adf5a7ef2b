package operator

import (
	"net/http"
	"strconv"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// deploymentEvents answers a deployment's timeline, oldest first, at most
// 500 entries from after ?after=ID (0: the start); a client pages on with
// the last ID it got. The stream (GET /v1/stream) sends a "deployment"
// change when an entry is added.
func (o *Operator) deploymentEvents(w http.ResponseWriter, r *http.Request) error {
	_, d, err := o.deployment(r)
	if err != nil {
		return err
	}
	after := int64(0)
	if s := r.URL.Query().Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return invalid("give the id of the last event you have, e.g. ?after=42", "invalid after=%q", s)
		}
	}
	rows, err := o.store.ListDeploymentEvents(r.Context(), db.ListDeploymentEventsParams{DeploymentID: nullUUID(d.ID), ID: after})
	if err != nil {
		return err
	}
	out := []api.DeploymentEvent{}
	for _, e := range rows {
		ev := api.DeploymentEvent{ID: e.ID, Time: e.CreatedAt, Kind: e.Kind, Message: e.Message}
		if e.InstanceID.Valid {
			ev.Instance = e.InstanceID.UUID.String()
		}
		out = append(out, ev)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
