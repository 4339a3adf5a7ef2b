package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// The dashboard's live updates: GET /v1/stream sends a server-sent event
// for every change the caller may see in their organisation (migration
// 0027 records them, by trigger, whoever wrote them), so that pages fetch
// again instead of polling. Every replica is woken by the database's
// notification, so a change made through one reaches streams held by
// another.

// streamHeartbeat is how often an idle stream sends a comment line, so
// that proxies keep it open and clients notice a dead one.
const streamHeartbeat = 15 * time.Second

// streamPage is the most changes one read takes; more at once (a burst)
// is sent as one "resync" event, after which pages fetch everything.
const streamPage = 1000

// changeRole is the least role that sees a change of each kind: what the
// API shows that role (env var names are for developers, invitations for
// owners). Kinds not listed are for viewers.
var changeRole = map[string]role{
	api.ChangeEnv:        roleDeveloper,
	api.ChangeInvitation: roleOwner,
}

// streamChanges serves GET /v1/stream until the client goes, or the
// caller's access ends (require's endOnLostAccess cancels the request).
func (o *Operator) streamChanges(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principalFrom(ctx)
	cursor, err := o.store.ChangeStreamXmin(ctx)
	if err != nil {
		return err
	}
	flusher, err := startEventStream(w)
	if err != nil {
		return err
	}
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
	// sent holds the ids sent from transactions not yet below the cursor:
	// they are read again until the cursor passes them.
	sent := map[int64]int64{}
	heartbeat := time.NewTicker(streamHeartbeat)
	defer heartbeat.Stop()
	for {
		wake := o.hub.Stream()
		next, err := o.store.ChangeStreamXmin(ctx)
		if err != nil {
			return nil // the client or the database went; the stream ends
		}
		rows, err := o.store.ListChanges(ctx, db.ListChangesParams{
			After: cursor, OrganisationID: p.orgID, UserID: p.userID, Admin: p.installAdmin, MaxRows: streamPage,
		})
		if err != nil {
			return nil
		}
		if len(rows) == streamPage {
			fmt.Fprint(w, "event: resync\ndata: {}\n\n")
			clear(sent)
		} else {
			writeChanges(w, p, rows, sent)
		}
		flusher.Flush()
		cursor = next
		for id, xid := range sent {
			if xid < cursor {
				delete(sent, id)
			}
		}
		if !waitForChanges(ctx, w, flusher, wake, heartbeat.C) {
			return nil
		}
	}
}

// waitForChanges sends heartbeats until wake is closed (true) or the
// request ends (false).
func waitForChanges(ctx context.Context, w http.ResponseWriter, flusher http.Flusher, wake <-chan struct{}, heartbeat <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-wake:
			return true
		case <-heartbeat:
			fmt.Fprint(w, ": heartbeat\n\n")
			flusher.Flush()
		}
	}
}

// writeChanges sends the rows p may see that were not sent yet, each
// distinct change once.
func writeChanges(w http.ResponseWriter, p principal, rows []db.ListChangesRow, sent map[int64]int64) {
	seen := map[api.Change]bool{}
	for _, c := range rows {
		if _, ok := sent[c.ID]; ok {
			continue
		}
		sent[c.ID] = c.Xid
		ch := api.Change{Kind: c.Kind, ID: c.Object, Project: c.Project}
		if seen[ch] || !p.maySeeChange(c) {
			continue
		}
		seen[ch] = true
		b, _ := json.Marshal(ch)
		fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
	}
}

// maySeeChange applies the caller's role and project limit to a change
// of their organisation (or of their own tokens, or of nodes for
// administrators, which ListChanges selected already).
func (p principal) maySeeChange(c db.ListChangesRow) bool {
	if c.OrganisationID.Valid {
		if p.role < max(changeRole[c.Kind], roleViewer) {
			return false
		}
		if len(p.projects) > 0 {
			return c.ProjectID.Valid && p.mayUseProject(c.ProjectID.UUID)
		}
	}
	return true
}
