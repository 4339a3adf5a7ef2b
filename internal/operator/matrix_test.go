package operator_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// publicRoutes are the routes that take no API token (they check a join
// token, a signature or an invitation themselves, or serve anyone). A new
// public route fails TestRoleMatrix until it is added here on purpose.
var publicRoutes = []string{
	"POST /v1/invitations/accept", "POST /v1/signup", "POST /v1/webhooks/github", "GET /v1/github/created",
	"POST /v1/nodes/register", "POST /v1/edges/register", "/v2/", "/git/", "/",
	"GET /v1/dns/acme-challenges",               // DNS servers read the values DNS publishes anyway
	"POST /v1/session", "POST /v1/session/link", // the password or the link is the credential
	"GET /v1/session/methods",                                     // which sign-in buttons to show
	"GET /v1/github/oauth/start", "GET /v1/github/oauth/callback", // GitHub and the state cookie are the credential
}

var roleRank = map[string]int{"": 0, "viewer": 1, "developer": 2, "admin": 3, "owner": 4}

// orgObjects are the objects one organisation's paths name.
type orgObjects struct {
	project, build, deployment, org string
}

// destructive are the routes that delete what the others act on: the
// matrix calls them last, the project before its organisation (an
// organisation with a project is not deleted), so that every other route
// still finds its objects.
var destructive = []string{"DELETE /v1/projects/{project}", "DELETE /v1/orgs/{org}"}

// TestRoleMatrix calls every route of the API's policy table with node and
// edge tokens (403 outside their routes), the installation's administrator
// on the administrators' routes, and a member of every role: on their organisation's objects, on another
// organisation's, and naming the other organisation. Each answer must be
// what the route's need says: let through (neither 401 nor 403) or 403 in
// their organisation; 404 or 403 for the other's objects; 403 when naming
// an organisation they are no member of. No answer may carry the other
// organisation's data, or any secret.
func TestRoleMatrix(t *testing.T) {
	h := start(t, withBuilder(&fileBuilder{}))
	own, ownSecret := h.matrixOrg(h.token, "alpha", "acme")
	otherToken := h.otherOrg("bravo-app")
	other, otherSecret := h.matrixOrg(otherToken, "bravo-app", "globex")
	otherID := orgOf(t, h, "bravo-app").String()
	// A second project keeps acme from being deleted when the matrix
	// deletes alpha and then calls DELETE /v1/orgs/acme as its owner.
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "keeper"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}

	tokens := map[string]string{}
	for _, role := range []string{"viewer", "developer", "admin", "owner"} {
		tokens[role] = h.member(role+"@acme.test", role)
	}
	node := h.register("eu", "10.0.0.1:7443")
	edge, err := operator.CreateEdgeToken(context.Background(), h.store, "matrix")
	if err != nil {
		t.Fatal(err)
	}
	others := map[string]string{"node": node.token, "edge": edge}
	policies := operator.Policies()
	if len(policies) < 40 {
		t.Fatalf("the policy table has only %d routes", len(policies))
	}
	slices.SortStableFunc(policies, func(a, b operator.RoutePolicy) int {
		return slices.Index(destructive, a.Pattern) - slices.Index(destructive, b.Pattern)
	})
	for _, pol := range policies {
		if pol.Public {
			if !slices.Contains(publicRoutes, pol.Pattern) {
				t.Errorf("route %s is public (takes no token): add it to publicRoutes if it must be, or give it a role", pol.Pattern)
			}
			continue
		}
		method, pattern, _ := strings.Cut(pol.Pattern, " ")
		// Other kinds of token keep to their own routes.
		for kind, token := range others {
			if !slices.Contains(pol.Kinds, kind) {
				if code, body := h.raw(method, fill(pattern, own), token, ""); code != 403 {
					t.Errorf("%s with a %s token: %d, want 403: %s", pol.Pattern, kind, code, body)
				}
			}
		}
		// The installation's administrator (the bootstrap user) passes
		// the administrators' routes that members are refused.
		if pol.InstallAdmin {
			if code, body := h.raw(method, fill(pattern, own), h.token, ""); code == 401 || code == 403 {
				t.Errorf("%s as the installation's administrator: %d: %s", pol.Pattern, code, body)
			}
		}
		for _, role := range []string{"viewer", "developer", "admin", "owner"} {
			allowed := slices.Contains(pol.Kinds, "user") && !pol.InstallAdmin && roleRank[role] >= roleRank[pol.Role]
			check := func(mode string, objs orgObjects, header string, want func(int) bool, wantText string) {
				code, body := h.raw(method, fill(pattern, objs), tokens[role], header)
				if !want(code) {
					t.Errorf("%s as %s (%s): %d, want %s: %s", pol.Pattern, role, mode, code, wantText, body)
				}
				for _, leak := range []string{ownSecret, otherSecret, otherID} {
					if strings.Contains(body, leak) {
						t.Errorf("%s as %s (%s): the answer holds %q: %s", pol.Pattern, role, mode, leak, body)
					}
				}
			}
			if allowed {
				check("own", own, "", func(c int) bool { return c != 401 && c != 403 }, "let through")
			} else {
				check("own", own, "", is(403), "403")
			}
			if strings.Contains(pattern, "{project}") || strings.Contains(pattern, "{build}") || strings.Contains(pattern, "{deployment}") || strings.Contains(pattern, "{org}") {
				if allowed {
					check("other's objects", other, "", is(404), "404")
				} else {
					check("other's objects", other, "", is(403), "403")
				}
			}
			if slices.Contains(pol.Kinds, "user") {
				check("naming the other organisation", own, "globex", is(403), "403")
			}
		}
	}
}

func is(want int) func(int) bool { return func(c int) bool { return c == want } }

// fill puts an organisation's objects into a route pattern.
func fill(pattern string, o orgObjects) string {
	r := strings.NewReplacer("{project}", o.project, "{build}", o.build, "{deployment}", o.deployment, "{org}", o.org,
		"{name}", "SOME_VAR", "{email}", "nobody@acme.test", "{token}", uuid.NewString(),
		"{node}", uuid.NewString(), "{instance}", uuid.NewString(), "{domain}", "www.example.com")
	return r.Replace(pattern)
}

// matrixOrg makes a project with a secret env var, a deployment and a
// queued build, and returns them and the secret.
func (h *harness) matrixOrg(token, project, org string) (orgObjects, string) {
	h.t.Helper()
	if project == "alpha" {
		if code := h.call("POST", "/v1/projects", token, api.CreateProjectRequest{Name: project}, nil); code != 201 {
			h.t.Fatalf("create project: %d", code)
		}
	}
	secret := "secret-of-" + project + "-" + uuid.NewString()
	if code := h.call("PUT", "/v1/projects/"+project+"/env/SECRET", token, api.EnvVar{Value: secret}, nil); code != 204 && code != 200 {
		h.t.Fatalf("set env: %d", code)
	}
	ref := h.pushAs(token, project)
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/"+project+"/deployments", token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		h.t.Fatalf("deploy: %d", code)
	}
	ctx := context.Background()
	o, err := h.store.GetOrganisationByName(ctx, org)
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := h.store.GetProjectByName(ctx, db.GetProjectByNameParams{OrganisationID: o.ID, Name: project})
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := h.store.CreateBuild(ctx, db.CreateBuildParams{ID: uuid.New(), ProjectID: p.ID, Source: "upload", Dockerfile: "Dockerfile"})
	if err != nil {
		h.t.Fatal(err)
	}
	return orgObjects{project: project, build: b.ID.String(), deployment: d.ID, org: org}, secret
}

// raw sends a request with an empty JSON body (for writes) and returns
// the status and up to 64 KiB of the answer; streams are cut short.
func (h *harness) raw(method, path, token, org string) (int, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var body io.Reader
	if method != "GET" && method != "DELETE" {
		body = bytes.NewReader([]byte("{}"))
	}
	req, _ := http.NewRequestWithContext(ctx, method, h.url+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	if org != "" {
		req.Header.Set(api.OrganisationHeader, org)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	n := 0
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		n, _ = io.ReadFull(resp.Body, buf)
	}
	return resp.StatusCode, string(buf[:n])
}
