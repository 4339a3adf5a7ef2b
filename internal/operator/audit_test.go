package operator_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// auditPage reads GET /v1/audit with token and query.
func (h *harness) auditPage(token string, query url.Values) (int, api.AuditPage) {
	h.t.Helper()
	var page api.AuditPage
	code := h.call("GET", "/v1/audit?"+query.Encode(), token, nil, &page)
	return code, page
}

// auditEntries is the whole of token's organisation's audit log.
func (h *harness) auditEntries(token string) []api.AuditEntry {
	h.t.Helper()
	code, page := h.auditPage(token, url.Values{"limit": {"500"}})
	if code != http.StatusOK {
		h.t.Fatalf("read audit log: %d", code)
	}
	return page.Entries
}

// findEntry is the newest entry with action and status, polled for: an
// entry is written once its request was answered.
func (h *harness) findEntry(token, action string, status int) api.AuditEntry {
	h.t.Helper()
	var found api.AuditEntry
	h.eventually("audit entry "+action, func() bool {
		for _, e := range h.auditEntries(token) {
			if e.Action == action && e.Status == status {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// auditRows is every row of the audit log as PostgreSQL prints it, all
// organisations' and none.
func (h *harness) auditRows() []string {
	h.t.Helper()
	rows, err := h.store.Pool.Query(context.Background(), "SELECT a::text FROM audit_log a ORDER BY id")
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// checkNoSecrets fails if any row holds one of secrets.
func (h *harness) checkNoSecrets(secrets ...string) {
	h.t.Helper()
	for _, row := range h.auditRows() {
		for _, s := range secrets {
			if strings.Contains(row, s) {
				h.t.Errorf("audit log holds a secret (%.12s...): %s", s, row)
			}
		}
	}
}

func checkActorIsBootstrapUser(t *testing.T, e api.AuditEntry) {
	t.Helper()
	if e.Actor.Kind != "user" || e.Actor.User != "dev@acme.test" || e.Actor.Token != "bootstrap" || e.Actor.TokenID == "" || e.Actor.UserID == "" {
		t.Errorf("%s: actor %+v, want the bootstrap user's token", e.Action, e.Actor)
	}
	if e.ClientAddr != "127.0.0.1" {
		t.Errorf("%s: client address %q, want 127.0.0.1", e.Action, e.ClientAddr)
	}
}

// TestAuditRecordsStateChanges: creating a project, setting an env var,
// pushing an image and deploying it are recorded with the user, token,
// action, object, address and outcome; so are refused and failed
// requests. Reads and node reports are not; env var values and tokens
// never reach the log.
func TestAuditRecordsStateChanges(t *testing.T) {
	h := start(t)
	const secret = "s3cret-value-4bd1e0"
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	if code := h.call("PUT", "/v1/projects/web/env/DATABASE_URL", h.token, api.EnvVar{Value: secret}, nil); code != 204 {
		t.Fatalf("set env: %d", code)
	}
	// Refused: a field that does not exist, beside the secret value.
	bad := map[string]any{"value": secret, "valu": secret}
	if code := h.call("PUT", "/v1/projects/web/env/DATABASE_URL", h.token, bad, nil); code != 400 {
		t.Fatalf("set env with an unknown field: %d", code)
	}
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		t.Fatalf("deploy: %d", code)
	}
	if code := h.call("POST", "/v1/projects/nope/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, nil); code != 404 {
		t.Fatalf("deploy to a missing project: %d", code)
	}
	n := h.register("eu", "10.0.0.1:7443")
	n.heartbeat()
	if code := h.call("POST", "/v1/projects", n.token, api.CreateProjectRequest{Name: "evil"}, nil); code != 403 {
		t.Fatalf("a node token created a project: %d", code)
	}
	if code := h.call("DELETE", "/v1/projects/web/env/DATABASE_URL", "zw_not-a-token", nil, nil); code != 401 {
		t.Fatalf("unset with a bad token: %d", code)
	}
	h.call("GET", "/v1/projects", h.token, nil, nil)

	for _, tc := range []struct {
		action     string
		status     int
		kind, obj  string
		project    string
		errContain string
	}{
		{"project.create", 201, "project", "web", "web", ""},
		{"env.set", 204, "env", "DATABASE_URL", "web", ""},
		{"env.set", 400, "env", "DATABASE_URL", "web", `unknown field "valu"`},
		{"image.push", 201, "image", "web:v1", "web", ""},
		{"deployment.create", 201, "deployment", d.ID, "web", ""},
		{"deployment.create", 404, "project", "nope", "nope", `project "nope" not found`},
	} {
		e := h.findEntry(h.token, tc.action, tc.status)
		checkActorIsBootstrapUser(t, e)
		if e.ObjectKind != tc.kind || e.Object != tc.obj || e.Project != tc.project || !strings.Contains(e.Error, tc.errContain) ||
			(tc.errContain == "" && e.Error != "") || e.Time.IsZero() || e.Method == "GET" {
			t.Errorf("%s %d: got %+v", tc.action, tc.status, e)
		}
	}
	for _, e := range h.auditEntries(h.token) {
		if e.Method == "GET" || strings.Contains(e.Path, "heartbeat") {
			t.Errorf("recorded a request that changes nothing: %+v", e)
		}
	}

	// Entries of no organisation, read from the database.
	var refusedNode, anonymous, joined int
	err := h.store.Pool.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE actor_kind = 'node' AND path = '/v1/projects' AND status = 403 AND token_id IS NOT NULL),
		count(*) FILTER (WHERE actor_kind = 'anonymous' AND action = 'env.unset' AND status = 401 AND object = 'DATABASE_URL'),
		count(*) FILTER (WHERE actor_kind = 'join' AND action = 'node.register' AND object = $1 AND status = 200)
		FROM audit_log WHERE organisation_id IS NULL`, n.id).Scan(&refusedNode, &anonymous, &joined)
	if err != nil {
		t.Fatal(err)
	}
	if refusedNode != 1 || anonymous != 1 || joined != 1 {
		t.Errorf("refused node request %d, anonymous request %d, node registration %d; want 1 each", refusedNode, anonymous, joined)
	}
	h.checkNoSecrets(append([]string{secret, h.token, n.token, "zw_not-a-token"}, h.joinTokens...)...)
}

// TestAuditIsOrganisationScoped: an organisation reads its own entries
// only, whatever it asks for; its refused attempt on another's project is
// in its own log, not the other's.
func TestAuditIsOrganisationScoped(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	h.call("PUT", "/v1/projects/web/env/TOKEN", h.token, api.EnvVar{Value: "x"}, nil)
	eve, err := operator.Bootstrap(context.Background(), h.store, "other-org", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}
	h.call("POST", "/v1/projects", eve, api.CreateProjectRequest{Name: "shop"}, nil)
	if code := h.call("PUT", "/v1/projects/web/env/TOKEN", eve, api.EnvVar{Value: "y"}, nil); code != 404 {
		t.Fatalf("eve set acme's env var: %d", code)
	}
	h.findEntry(h.token, "env.set", 204)
	probe := h.findEntry(eve, "env.set", 404)
	if probe.Actor.User != "eve@other.test" || probe.Project != "web" {
		t.Errorf("eve's attempt: %+v", probe)
	}
	for _, e := range h.auditEntries(eve) {
		if e.Actor.User != "eve@other.test" {
			t.Errorf("eve reads another organisation's entry: %+v", e)
		}
	}
	if _, page := h.auditPage(eve, url.Values{"project": {"web"}, "since": {"1h"}}); len(page.Entries) != 1 || page.Entries[0].Status != 404 {
		t.Errorf("eve's entries for project web: %+v", page.Entries)
	}
	for _, e := range h.auditEntries(h.token) {
		if e.Actor.User != "dev@acme.test" {
			t.Errorf("acme reads another organisation's entry: %+v", e)
		}
	}
}

// TestAuditReadRefusedToMachines: node and edge tokens may not read the
// audit log; a bad query is refused with what to give.
func TestAuditReadRefusedToMachines(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	edge, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	n := h.register("eu", "10.0.0.1:7443")
	for name, token := range map[string]string{"node": n.token, "edge": edge} {
		if code, page := h.auditPage(token, nil); code != http.StatusForbidden || len(page.Entries) != 0 {
			t.Errorf("%s token read the audit log: %d %+v", name, code, page)
		}
	}
	if code, _ := h.auditPage(h.token, url.Values{"since": {"yesterday"}}); code != http.StatusBadRequest {
		t.Errorf("since=yesterday: %d, want 400", code)
	}
	h.findEntry(h.token, "project.create", 201)
}

// TestAuditPages: entries come newest first, a page at a time, and
// since leaves out older ones.
func TestAuditPages(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	for _, name := range []string{"A", "B", "C"} {
		h.call("PUT", "/v1/projects/web/env/"+name, h.token, api.EnvVar{Value: "v"}, nil)
	}
	h.findEntry(h.token, "env.set", 204)
	var objects []string
	q := url.Values{"limit": {"2"}, "project": {"web"}}
	for range 3 {
		code, page := h.auditPage(h.token, q)
		if code != 200 {
			t.Fatalf("page: %d", code)
		}
		for _, e := range page.Entries {
			objects = append(objects, e.Object)
		}
		if page.Next == "" {
			break
		}
		q.Set("before", page.Next)
	}
	if got := strings.Join(objects, ","); got != "C,B,A,web" {
		t.Errorf("objects newest first, two a page: %s, want C,B,A,web", got)
	}
	if _, page := h.auditPage(h.token, url.Values{"since": {"2000-01-01T00:00:00Z"}}); len(page.Entries) != 4 {
		t.Errorf("since 2000: %d entries", len(page.Entries))
	}
	future := "2999-01-01T00:00:00Z"
	if _, page := h.auditPage(h.token, url.Values{"since": {future}}); len(page.Entries) != 0 {
		t.Errorf("since %s: %d entries", future, len(page.Entries))
	}
}

// TestAuditRecordsGitPushes: a push to the git remote is recorded with
// its user; one refused for its token too; a clone is not.
func TestAuditRecordsGitPushes(t *testing.T) {
	g := startGit(t)
	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY app /app\n", "app": "v1"}, "first")
	if out, ok := git(t, repo, "push", g.remote("web", "zw_wrong-token"), "main"); ok {
		t.Fatalf("a push with a wrong token succeeded:\n%s", out)
	}
	if out, ok := git(t, repo, "push", g.remote("web", g.token), "main"); !ok {
		t.Fatalf("push failed:\n%s", out)
	}
	mustGit(t, t.TempDir(), "clone", "--quiet", g.remote("web", g.token), "web")
	e := g.findEntry(g.token, "git.push", 200)
	checkActorIsBootstrapUser(t, e)
	bs := g.builds()
	if len(bs) != 1 || e.Project != "web" || e.Method != "POST" || !strings.HasSuffix(e.Path, "/git-receive-pack") ||
		e.ObjectKind != "build" || e.Object != bs[0].ID || e.Error != "" {
		t.Errorf("push entry: %+v, builds %+v", e, bs)
	}
	pushes := 0
	for _, e := range g.auditEntries(g.token) {
		if strings.HasPrefix(e.Path, "/git/") {
			pushes++
		}
	}
	if pushes != 1 {
		t.Errorf("%d entries of the git remote in acme's log, want the push only", pushes)
	}
	var refused int
	err := g.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE action = 'git.push' AND actor_kind = 'anonymous' AND status = 401 AND project = 'web'`).Scan(&refused)
	if err != nil || refused == 0 {
		t.Errorf("refused push entries: %d %v", refused, err)
	}
	g.checkNoSecrets(g.token, "zw_wrong-token")

	// A push whose build fails is rejected; its entry says so.
	broken := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\nRUN false\n"}, "broken")
	if out, ok := git(t, broken, "push", "--force", g.remote("web", g.token), "main"); ok {
		t.Fatalf("push of a failing build succeeded:\n%s", out)
	}
	g.eventually("the rejected push's entry", func() bool {
		for _, e := range g.auditEntries(g.token) {
			if e.Action == "git.push" && strings.Contains(e.Error, "the push was rejected") && e.ObjectKind == "build" {
				return true
			}
		}
		return false
	})
}

// TestAuditRecordsWebhookDeliveries: a signed delivery that queues a
// build is recorded in the project's organisation as the github system
// actor, with the build; a forged one as anonymous and refused. The App's
// secrets, set through the API, never reach the log.
func TestAuditRecordsWebhookDeliveries(t *testing.T) {
	f := startGitHub(t)
	body := f.pushEvent("acme/web", "main", f.head)
	if code, out := f.deliver("push", "d-forged", body, github.Sign([]byte("wrong"), body)); code != 401 {
		t.Fatalf("forged delivery: %d %v", code, out)
	}
	code, out := f.deliver("push", "d-1", body, "")
	if code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	bs := f.builds()
	if len(bs) != 1 {
		t.Fatalf("builds: %+v", bs)
	}
	e := f.findEntry(f.token, "github.webhook", http.StatusAccepted)
	if e.Actor.Kind != "github" || e.Actor.UserID != "" || e.ObjectKind != "build" || e.Object != bs[0].ID || e.Project != "web" {
		t.Errorf("delivery entry: %+v", e)
	}
	for _, e := range f.auditEntries(f.token) {
		if e.Action == "github.webhook" && e.Status == 401 {
			t.Errorf("a forged delivery, which names no organisation, is in acme's log: %+v", e)
		}
	}
	// startGitHub tried to set the App as an organisation owner who does
	// not administer the installation first: recorded as that user.
	if e := f.findEntry(f.token, "github_app.set", http.StatusForbidden); e.Actor.Kind != "user" || e.Actor.User != "owner2@acme.test" || e.Actor.Role != "owner" {
		t.Errorf("refused App set: actor %+v, want owner2 acting as owner", e.Actor)
	}
	var forged, appSet int
	err := f.store.Pool.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE action = 'github.webhook' AND actor_kind = 'anonymous' AND status = 401 AND organisation_id IS NULL),
		count(*) FILTER (WHERE action = 'github_app.set' AND actor_kind = 'admin' AND status = 200)
		FROM audit_log`).Scan(&forged, &appSet)
	if err != nil || forged != 1 || appSet != 1 {
		t.Errorf("forged deliveries %d, App set by the admin %d, want 1 each (%v)", forged, appSet, err)
	}
	f.checkNoSecrets(f.gh.WebhookSecret, adminToken, strings.Split(f.gh.KeyPEM, "\n")[1])
}

// TestAuditRecordsHostileNames: a path with NUL, invalid UTF-8 or great
// length, which the database would refuse as text, is recorded all the
// same: sending one must not be a way around the log.
func TestAuditRecordsHostileNames(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	long := strings.Repeat("é", 600)
	for _, name := range []string{"%00", "%ff%fe", long} {
		if code := h.call("DELETE", "/v1/projects/web/env/"+name, h.token, nil, nil); code < 400 {
			t.Fatalf("unset %q: %d", name, code)
		}
	}
	h.eventually("three refused unsets", func() bool {
		n := 0
		for _, e := range h.auditEntries(h.token) {
			if e.Action == "env.unset" && e.Status >= 400 {
				n++
			}
		}
		return n == 3
	})
}

// TestAuditWriteFailuresAreCounted: an entry the database refuses is
// counted, so that an operator can alert on a log with holes.
func TestAuditWriteFailuresAreCounted(t *testing.T) {
	h := start(t)
	if got := h.value("zeitwork_operator_audit_write_failures_total"); got != 0 {
		t.Fatalf("failures before any: %v", got)
	}
	if _, err := h.store.Pool.Exec(context.Background(), "ALTER TABLE audit_log ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"); err != nil {
		t.Fatal(err)
	}
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	h.eventually("a counted failure", func() bool { return h.value("zeitwork_operator_audit_write_failures_total") == 1 })
}

// TestAuditRecordsRefusedNodeReports: node reports are not recorded, but
// one refused is: a stolen or forged token's attempts show.
func TestAuditRecordsRefusedNodeReports(t *testing.T) {
	h := start(t)
	n := h.register("eu", "10.0.0.1:7443")
	other := h.register("eu", "10.0.0.2:7443")
	n.heartbeat()
	if code := h.call("POST", "/v1/nodes/"+other.id+"/heartbeat", n.token, nil, nil); code < 400 {
		t.Fatalf("a node heartbeat for another: %d", code)
	}
	if code := h.call("POST", "/v1/nodes/"+n.id+"/heartbeat", "zw_forged", nil, nil); code != 401 {
		t.Fatalf("a forged heartbeat: %d", code)
	}
	var ok, refused int
	err := h.store.Pool.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE status < 400), count(*) FILTER (WHERE status >= 400)
		FROM audit_log WHERE path LIKE '%/heartbeat'`).Scan(&ok, &refused)
	if err != nil || ok != 0 || refused != 2 {
		t.Errorf("heartbeat entries: %d answered, %d refused, want 0 and 2 (%v)", ok, refused, err)
	}
}

// TestAuditRecordsTeamChanges: inviting, joining, changing a role,
// creating and revoking a token and removing a member are each recorded
// with the member or token as the object and the user who did it (the
// invitee for joining); developers and viewers cannot read the log.
func TestAuditRecordsTeamChanges(t *testing.T) {
	h := start(t)
	ada := h.member("ada@acme.test", "developer")
	h.member("vic@acme.test", "viewer")
	var tok api.Token
	if code := h.call("POST", "/v1/tokens", ada, api.CreateTokenRequest{Name: "ci"}, &tok); code != 201 {
		t.Fatalf("create token: %d", code)
	}
	if code := h.call("DELETE", "/v1/tokens/ci", ada, nil, nil); code != 204 {
		t.Fatalf("revoke token: %d", code)
	}
	if code := h.call("PATCH", "/v1/members/ada@acme.test", h.token, api.SetRoleRequest{Role: "admin"}, nil); code != 204 {
		t.Fatalf("set role: %d", code)
	}
	if code := h.call("DELETE", "/v1/members/vic@acme.test", ada, nil, nil); code != 403 {
		t.Fatalf("an admin removed a member: %d", code)
	}
	if code := h.call("DELETE", "/v1/members/vic@acme.test", h.token, nil, nil); code != 204 {
		t.Fatalf("remove member: %d", code)
	}
	for _, c := range []struct {
		action          string
		status          int
		user, role, obj string
	}{
		{"invitation.create", 201, "dev@acme.test", "owner", "ada@acme.test"},
		{"invitation.accept", 200, "ada@acme.test", "developer", "ada@acme.test"},
		{"token.create", 201, "ada@acme.test", "developer", "ci"},
		{"token.revoke", 204, "ada@acme.test", "developer", "ci"},
		{"member.set_role", 204, "dev@acme.test", "owner", "ada@acme.test"},
		{"member.remove", 403, "ada@acme.test", "admin", "vic@acme.test"},
		{"member.remove", 204, "dev@acme.test", "owner", "vic@acme.test"},
	} {
		var e api.AuditEntry
		h.eventually(c.action+" on "+c.obj, func() bool {
			for _, e = range h.auditEntries(h.token) {
				if e.Action == c.action && e.Status == c.status && e.Object == c.obj {
					return true
				}
			}
			return false
		})
		if e.Actor.User != c.user || e.Actor.Role != c.role || e.ObjectKind == "" {
			t.Errorf("%s (%d) on %s: actor %+v, object kind %q; want %s as %s", c.action, c.status, c.obj, e.Actor, e.ObjectKind, c.user, c.role)
		}
	}
	// Ada is an admin now and reads the log; a developer or viewer does not.
	if code, _ := h.auditPage(ada, url.Values{}); code != http.StatusOK {
		t.Errorf("an admin reading the audit log: %d", code)
	}
	dev := h.member("dan@acme.test", "developer")
	view := h.member("val@acme.test", "viewer")
	for name, token := range map[string]string{"developer": dev, "viewer": view} {
		if code, page := h.auditPage(token, url.Values{}); code != http.StatusForbidden || len(page.Entries) != 0 {
			t.Errorf("a %s read the audit log: %d, %d entries", name, code, len(page.Entries))
		}
	}
}
