package operator

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/store/db"
)

// The audit log records every state-changing request (docs/security.md,
// "Audit log"). One middleware around the whole mux decides what is
// recorded, by method and path, before any route runs: a new endpoint is
// recorded without doing anything, refused and failed requests too. The
// handlers only add what the path does not tell: who the caller is
// (require, serveGit, the webhook) and which project a request touched.

// System actors: requests no user token made.
const (
	actorAnonymous = "anonymous" // no valid token
	actorGitHub    = "github"    // a webhook delivery, signed with the App's secret
	actorAdmin     = "admin"     // the operator's admin token
	actorJoin      = "join"      // a node registering with the join token
)

// auditActor is who made a request, as recorded.
type auditActor struct {
	kind            string
	role            string
	userID, tokenID uuid.UUID
	orgID           uuid.UUID
}

// actorOf is the one place a principal becomes the actor of an entry,
// with the role it acted in (capped by its token's).
func actorOf(p principal) auditActor {
	a := auditActor{kind: p.kind, userID: p.userID, tokenID: p.tokenID, orgID: p.orgID}
	if p.role != roleNone {
		a.role = p.role.String()
	}
	return a
}

// auditTarget is a project a request touched; the entry is recorded in
// the project's organisation. A webhook delivery may touch projects of
// several organisations and is recorded once in each.
type auditTarget struct {
	org, project uuid.UUID
	name         string
	// objectKind and object, if set, replace the request's own (a
	// webhook delivery's build in this project).
	objectKind, object string
}

// auditRecord collects, while a request is served, what its entry says
// beyond method, path and status.
type auditRecord struct {
	mu                 sync.Mutex
	actor              auditActor
	objectKind, object string
	targets            []auditTarget
	err                string
}

type auditKey struct{}

// auditFrom is the request's record, or nil for a request not recorded;
// the methods below do nothing on nil.
func auditFrom(ctx context.Context) *auditRecord {
	rec, _ := ctx.Value(auditKey{}).(*auditRecord)
	return rec
}

func (rec *auditRecord) setActor(a auditActor) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.actor = a
}

// setOrg records the entry in organisation id rather than the one the
// actor acted in (an organisation's creation goes to its own log).
func (rec *auditRecord) setOrg(id uuid.UUID) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.actor.orgID = id
}

// setObject names what a request created, which its path cannot.
func (rec *auditRecord) setObject(kind, id string) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.objectKind, rec.object = kind, id
}

// setTargetObject names what the request did in one project it touched.
func (rec *auditRecord) setTargetObject(project uuid.UUID, kind, id string) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := range rec.targets {
		if rec.targets[i].project == project {
			rec.targets[i].objectKind, rec.targets[i].object = kind, id
		}
	}
}

func (rec *auditRecord) addTarget(t auditTarget) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, have := range rec.targets {
		if have.project == t.project {
			return
		}
	}
	rec.targets = append(rec.targets, t)
}

// auditProject notes that the request touched project p.
func auditProject(ctx context.Context, p db.Project) {
	auditFrom(ctx).addTarget(auditTarget{org: p.OrganisationID, project: p.ID, name: p.Name})
}

// setError keeps the message the caller was answered (never more: an
// internal error is recorded as the caller saw it, its details stay in
// the operator's log).
func (rec *auditRecord) setError(msg string) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.err = msg
}

// audited records the requests auditedRequest selects, after they are
// served, whatever the outcome.
func (o *Operator) audited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		audit, failuresOnly := auditedRequest(r)
		if !audit {
			next.ServeHTTP(w, r)
			return
		}
		rec := &auditRecord{actor: auditActor{kind: actorAnonymous}}
		r = r.WithContext(context.WithValue(r.Context(), auditKey{}, rec))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if (auditSkipped[r.Pattern] || failuresOnly) && sw.code < 400 {
			return
		}
		o.recordAudit(r, rec, sw.code)
	})
}

// auditedRequest selects the requests that may change state: writes under
// /v1, pushes to the git remote, and image manifests written to or deleted
// from the registry (its blob uploads are parts of those, not recorded).
// A push starts with a GET of the remote's refs, where a bad token is
// refused: that GET is recorded only when it fails (failuresOnly), the
// push itself when it is sent.
func auditedRequest(r *http.Request) (audit, failuresOnly bool) {
	p := r.URL.Path
	if p == githubStatePath+"/callback" {
		return true, false // a sign-in, though GitHub sends a GET
	}
	if strings.HasPrefix(p, "/git/") && r.Method == http.MethodGet {
		return strings.HasSuffix(p, "/info/refs") && r.URL.Query().Get("service") == "git-receive-pack", true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false, false
	}
	switch {
	case strings.HasPrefix(p, "/v1/"):
		return true, false
	case strings.HasPrefix(p, "/git/"):
		return strings.HasSuffix(p, "/git-receive-pack"), false
	case strings.HasPrefix(p, "/v2/"):
		return (r.Method == http.MethodPut || r.Method == http.MethodDelete) && strings.Contains(p, "/manifests/"), false
	}
	return false, false
}

// auditSkipped are the writes of node agents that report rather than
// change what users asked for: seconds apart, they would drown the log.
// They are recorded when refused; node registration always is.
var auditSkipped = map[string]bool{
	"POST /v1/nodes/{node}/heartbeat":            true,
	"POST /v1/nodes/{node}/instances/{instance}": true,
	"POST /v1/nodes/{node}/logs":                 true,
	// The edges' certificate storage: certmagic's own bookkeeping.
	"PUT /v1/edge/certs/value":          true,
	"DELETE /v1/edge/certs/value":       true,
	"POST /v1/edge/certs/locks/lock":    true,
	"POST /v1/edge/certs/locks/refresh": true,
	"POST /v1/edge/certs/locks/unlock":  true,
	"POST /v1/edge/certs/status":        true,
	// ACME DNS-01 values for the apps zone: the same bookkeeping.
	"PUT /v1/edge/acme-challenges":    true,
	"DELETE /v1/edge/acme-challenges": true,
	// Edges' access log lines, shipped every second or so.
	"POST /v1/edge/logs": true,
	// Scale to zero: activity reports every second or so, and wakes,
	// which the deployment's events record ("woken").
	"POST /v1/edge/activity": true,
	"POST /v1/edge/wake":     true,
}

// auditActions names the action of each route that is recorded; a route
// not listed is recorded under its method and pattern.
var auditActions = map[string]string{
	"POST /v1/projects":                                   "project.create",
	"PATCH /v1/projects/{project}":                        "project.update",
	"DELETE /v1/projects/{project}":                       "project.delete",
	"DELETE /v1/orgs/{org}":                               "organisation.delete",
	"POST /v1/projects/{project}/deployments":             "deployment.create",
	"POST /v1/projects/{project}/rollback":                "project.rollback",
	"PUT /v1/projects/{project}/env/{name}":               "env.set",
	"DELETE /v1/projects/{project}/env/{name}":            "env.unset",
	"PUT /v1/projects/{project}/build-args/{name}":        "build_arg.set",
	"DELETE /v1/projects/{project}/build-args/{name}":     "build_arg.unset",
	"PUT /v1/projects/{project}/registry":                 "registry.set",
	"DELETE /v1/projects/{project}/registry":              "registry.remove",
	"POST /v1/projects/{project}/builds":                  "build.create",
	"POST /v1/builds/{build}/cancel":                      "build.cancel",
	"DELETE /v1/deployments/{deployment}":                 "deployment.delete",
	"POST /v1/webhooks/github":                            "github.webhook",
	"PUT /v1/github/app":                                  "github_app.set",
	"POST /v1/nodes/register":                             "node.register",
	"POST /v1/nodes/{node}/drain":                         "node.drain",
	"POST /v1/nodes/{node}/undrain":                       "node.undrain",
	"POST /v1/nodes/join-tokens":                          "join_token.create",
	"DELETE /v1/nodes/{node}":                             "node.remove",
	"POST /v1/edges/register":                             "edge.register",
	"DELETE /v1/edges/{edge}":                             "edge.remove",
	"POST /v1/orgs":                                       "org.create",
	"PATCH /v1/members/{email}":                           "member.set_role",
	"DELETE /v1/members/{email}":                          "member.remove",
	"POST /v1/invitations":                                "invitation.create",
	"POST /v1/invitations/accept":                         "invitation.accept",
	"DELETE /v1/invitations/{id}":                         "invitation.revoke",
	"POST /v1/tokens":                                     "token.create",
	"DELETE /v1/tokens/{token}":                           "token.revoke",
	"PUT /v1/settings":                                    "settings.set",
	"POST /v1/signup":                                     "user.signup",
	"POST /v1/session":                                    "session.sign_in",
	"DELETE /v1/session":                                  "session.sign_out",
	"POST /v1/session/revoke-all":                         "session.revoke_all",
	"POST /v1/session/link":                               "session.sign_in_link",
	"POST /v1/signin-links":                               "signin_link.create",
	"PUT /v1/user/password":                               "user.password_change",
	"GET /v1/github/oauth/callback":                       "session.sign_in_github",
	"DELETE /v1/user/github":                              "github.unlink",
	"POST /v1/projects/{project}/domains":                 "domain.add",
	"POST /v1/projects/{project}/domains/{domain}/verify": "domain.verify",
	"DELETE /v1/projects/{project}/domains/{domain}":      "domain.remove",
}

// auditAction names what r asked for, the kind and name of the object its
// path names, and the project its path names.
func auditAction(r *http.Request) (action, kind, object, project string) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/git/"):
		project, _, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/git/"), ".git/")
		return "git.push", "project", project, project
	case strings.HasPrefix(r.URL.Path, "/v2/"):
		repo, ref, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
		project, _, _ = strings.Cut(repo, "/") // repositories are named after projects
		if r.Method == http.MethodDelete {
			return "image.delete", "image", repo + ":" + ref, project
		}
		return "image.push", "image", repo + ":" + ref, project
	}
	project = r.PathValue("project")
	action = auditActions[r.Pattern]
	if action == "" {
		action = r.Method + " " + r.URL.Path
		if r.Pattern != "" && r.Pattern != "/" {
			action = r.Pattern
		}
	}
	for _, k := range []struct{ value, kind string }{
		{"name", strings.SplitN(action, ".", 2)[0]}, {"build", "build"}, {"deployment", "deployment"},
		{"node", "node"}, {"domain", "domain"}, {"email", "member"}, {"token", "token"}, {"org", "org"}, {"project", "project"},
	} {
		if v := r.PathValue(k.value); v != "" {
			return action, k.kind, v, project
		}
	}
	return action, "", "", project
}

// recordAudit writes r's entry, one per organisation and project it
// touched. It runs once the handler returned, on a context the client
// cannot cancel: an abandoned request is recorded too. A failed write is
// logged, with the entry, so it is not lost without trace.
func (o *Operator) recordAudit(r *http.Request, rec *auditRecord, status int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	action, kind, object, project := auditAction(r)
	if rec.objectKind != "" {
		kind, object = rec.objectKind, rec.object
	}
	if project == "" && kind == "project" {
		project = object // a project being created
	}
	if status == 0 {
		status = http.StatusOK
		if rec.err != "" {
			status = statusClientClosed
		}
	}
	base := db.InsertAuditEntryParams{
		OrganisationID: nullUUID(rec.actor.orgID), Project: auditText(project, 200),
		ActorKind: rec.actor.kind, ActorRole: rec.actor.role, UserID: nullUUID(rec.actor.userID), TokenID: nullUUID(rec.actor.tokenID),
		Action: auditText(action, 200), ObjectKind: kind, Object: auditText(object, 200),
		Method: auditText(r.Method, 20), Path: auditText(r.URL.Path, 1000), ClientAddr: clientAddr(r),
		Status: int32(status), Error: auditText(rec.err, 500),
	}
	entries := []db.InsertAuditEntryParams{base}
	if len(rec.targets) > 0 {
		entries = entries[:0]
		for _, t := range rec.targets {
			e := base
			e.OrganisationID, e.ProjectID, e.Project = nullUUID(t.org), nullUUID(t.project), auditText(t.name, 200)
			if t.objectKind != "" {
				e.ObjectKind, e.Object = t.objectKind, t.object
			}
			entries = append(entries, e)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	for _, e := range entries {
		if err := o.store.InsertAuditEntry(ctx, e); err != nil {
			o.metrics.auditFailed.Inc()
			o.log.Error("audit log write failed", "err", err, "action", e.Action, "path", e.Path,
				"actor", e.ActorKind, "user", e.UserID.UUID, "status", e.Status)
		}
	}
}

// statusClientClosed records a request whose client went away before it
// was answered (nginx's convention; nothing is sent).
const statusClientClosed = 499

// auditText makes s storable as PostgreSQL text, at most n bytes: a path
// or name from the client may hold NUL or invalid UTF-8, which the
// database refuses, and the request would then go unrecorded.
func auditText(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func nullUUID(id uuid.UUID) uuid.NullUUID {
	return uuid.NullUUID{UUID: id, Valid: id != uuid.Nil}
}

// clientAddr is the TCP peer's address: the operator trusts no forwarding
// header, which any client could set.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
