package operator

import (
	"net/http"
	"strconv"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// canReadAudit says whether p may read its organisation's audit log: user
// tokens of owners and admins (node, edge and build tokens act for
// machines; developers and viewers are refused). The route's policy entry
// asks the same; this check keeps the log closed should the entry change.
func canReadAudit(p principal) bool {
	return p.kind == kindUser && p.role >= roleAdmin
}

var errAuditForbidden = &apiError{http.StatusForbidden, "this token may not read the audit log",
	"use the token of an organisation owner or admin"}

// listAudit serves GET /v1/audit?project=&since=&limit=&before=: the
// caller's organisation's entries, newest first. Entries are only ever
// looked up by the caller's organisation, so another's are never seen.
func (o *Operator) listAudit(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if !canReadAudit(p) {
		return errAuditForbidden
	}
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"), time.Now())
	if err != nil {
		return err
	}
	var before int64
	if b := q.Get("before"); b != "" {
		if before, err = strconv.ParseInt(b, 10, 64); err != nil || before <= 0 {
			return invalid("pass the next value of the previous page", "invalid before %q", b)
		}
	}
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	rows, err := o.store.ListAuditEntries(r.Context(), db.ListAuditEntriesParams{
		OrganisationID: p.orgID, Project: q.Get("project"), Since: since, Before: before, MaxRows: limit,
	})
	if err != nil {
		return err
	}
	page := api.AuditPage{Entries: []api.AuditEntry{}}
	for _, e := range rows {
		page.Entries = append(page.Entries, auditJSON(e))
	}
	if len(rows) == int(limit) {
		page.Next = strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// parseSince reads ?since=: a duration back from now ("1h", "30m") or an
// RFC 3339 time; empty is the beginning of the log.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, invalid("give a duration such as 1h or 30m, or a time such as 2026-11-29T15:00:00Z",
		"invalid since %q", s)
}

func auditJSON(e db.ListAuditEntriesRow) api.AuditEntry {
	out := api.AuditEntry{
		ID: e.ID, Time: e.CreatedAt, Action: e.Action, ObjectKind: e.ObjectKind, Object: e.Object,
		Project: e.Project, Method: e.Method, Path: e.Path, ClientAddr: e.ClientAddr,
		Status: int(e.Status), Error: e.Error,
		Actor: api.AuditActor{Kind: e.ActorKind, Role: e.ActorRole, User: e.UserEmail, Token: e.TokenName},
	}
	if e.UserID.Valid {
		out.Actor.UserID = e.UserID.UUID.String()
	}
	if e.TokenID.Valid {
		out.Actor.TokenID = e.TokenID.UUID.String()
	}
	return out
}
