package operator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// liveProject creates a project, deploys an image of it on node n and
// reports its instances healthy until it is live; it returns the deployment.
func (h *harness) liveProject(n *fakeNode, project string) api.Deployment {
	h.t.Helper()
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: project, MinInstancesPerRegion: 1}, nil); code != 201 {
		h.t.Fatalf("create project %s: %d", project, code)
	}
	ref := h.pushImage(project, image.ImageConfig{Entrypoint: []string{"/app"}})
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/"+project+"/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		h.t.Fatalf("deploy %s: %d", project, code)
	}
	h.eventually(project+" to be placed", func() bool { return len(instancesOf(n.desired(), d.ID)) == 1 })
	for _, in := range instancesOf(n.desired(), d.ID) {
		n.report(in.ID, api.InstanceHealthy, "")
	}
	h.eventually(project+" to go live", func() bool { d = h.deployment(d.ID); return d.Live })
	return d
}

// instancesOf are a deployment's instances the node is asked to run.
func instancesOf(ins []api.DesiredInstance, deployment string) []api.DesiredInstance {
	var out []api.DesiredInstance
	for _, in := range running(ins) {
		if in.Deployment == deployment {
			out = append(out, in)
		}
	}
	return out
}

// edgeHosts is the set of hosts in the edge's route table.
func (h *harness) edgeHosts(edgeToken string) map[string]bool {
	h.t.Helper()
	var routes api.RouteTable
	if code := h.call("GET", "/v1/edge/routes", edgeToken, nil, &routes); code != 200 {
		h.t.Fatalf("edge routes: %d", code)
	}
	hosts := map[string]bool{}
	for _, r := range routes.Routes {
		hosts[r.Host] = true
	}
	return hosts
}

// TestDeleteProject: deleting a project stops its instances, takes its
// hosts out of the edge's route table at once, cancels its builds, removes
// its env vars and registry repository and frees its name; another project
// runs on. Only admins of its organisation may delete it.
func TestDeleteProject(t *testing.T) {
	h := start(t)
	n := h.register("eu", "10.0.0.1:7443")
	web := h.liveProject(n, "web")
	apiDep := h.liveProject(n, "api")
	if code := h.call("PUT", "/v1/projects/web/env/SECRET", h.token, api.EnvVar{Value: "s3cret"}, nil); code != 200 && code != 204 {
		t.Fatalf("set env: %d", code)
	}
	build := queueBuild(t, h.store, "web")
	edge, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	webHost, webVersioned := "web.apps.test", api.VersionedLabel("web", web.ID)+".apps.test"
	if hosts := h.edgeHosts(edge); !hosts[webHost] || !hosts[webVersioned] {
		t.Fatalf("web not routed before the deletion: %v", hosts)
	}

	other := h.otherOrg("bravo")
	for who, token := range map[string]string{
		"developer": h.member("developer@acme.test", "developer"), "viewer": h.member("viewer@acme.test", "viewer"),
	} {
		if code := h.call("DELETE", "/v1/projects/web", token, nil, nil); code != http.StatusForbidden {
			t.Fatalf("a %s deleted a project: %d", who, code)
		}
	}
	if code := h.call("DELETE", "/v1/projects/web", other, nil, nil); code != http.StatusNotFound {
		t.Fatalf("another organisation's owner deleting web: %d", code)
	}
	if code := h.call("DELETE", "/v1/projects/bravo", h.token, nil, nil); code != http.StatusNotFound {
		t.Fatalf("deleting another organisation's project: %d", code)
	}

	var out api.DeletedProject
	admin := h.member("admin@acme.test", "admin")
	if code := h.call("DELETE", "/v1/projects/web", admin, nil, &out); code != 200 {
		t.Fatalf("delete project: %d", code)
	}
	if out.Name != "web" || out.StoppedDeployments != 1 || out.CancelledBuilds != 1 {
		t.Fatalf("answer: %+v", out)
	}

	// At once: the edge no longer routes web, the node no longer runs it.
	hosts := h.edgeHosts(edge)
	if hosts[webHost] || hosts[webVersioned] {
		t.Fatalf("web still routed after its deletion: %v", hosts)
	}
	if !hosts["api.apps.test"] || !hosts[api.VersionedLabel("api", apiDep.ID)+".apps.test"] {
		t.Fatalf("api lost its routes: %v", hosts)
	}
	desired := n.desired()
	if got := instancesOf(desired, web.ID); len(got) != 0 {
		t.Fatalf("the node still runs web: %+v", got)
	}
	if len(instancesOf(desired, apiDep.ID)) != 1 {
		t.Fatalf("api's instance was touched: %+v", desired)
	}
	if d := h.deployment(apiDep.ID); d.Status != api.StatusReady || !d.Live {
		t.Fatalf("api's deployment: %+v", d)
	}
	for _, path := range []string{"/v1/projects/web", "/v1/deployments/" + web.ID, "/v1/builds/" + build} {
		if code := h.call("GET", path, h.token, nil, nil); code != http.StatusNotFound {
			t.Fatalf("GET %s after the deletion: %d", path, code)
		}
	}

	// The name is free: a new web, here of another organisation, starts
	// empty, without the old web's images.
	if code := h.call("POST", "/v1/projects", other, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create web again: %d", code)
	}
	registry := strings.TrimPrefix(h.url, "http://")
	if err := pull(registry+"/web:v1", other); err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Fatalf("the old web's image in the new web's repository: %v", err)
	}
	if err := pull(registry+"/api:v1", h.token); err != nil {
		t.Fatalf("api's image: %v", err)
	}
	var env []api.EnvVar
	if code := h.call("GET", "/v1/projects/web/env", other, nil, &env); code != 200 || len(env) != 0 {
		t.Fatalf("the new web's env: %d %+v", code, env)
	}

	// The audit log keeps the deletion.
	var page api.AuditPage
	if code := h.call("GET", "/v1/audit?project=web", h.token, nil, &page); code != 200 {
		t.Fatalf("audit: %d", code)
	}
	found := false
	for _, e := range page.Entries {
		found = found || (e.Action == "project.delete" && e.Status == 200 && e.Actor.User == "admin@acme.test")
	}
	if !found {
		t.Fatalf("no audit entry for the deletion: %+v", page.Entries)
	}
}

// TestDeleteOrganisation: an organisation is deleted only by an owner and
// only without projects; its members lose access at once (login tokens
// and tokens tied to it), and keep their accounts and other organisations.
func TestDeleteOrganisation(t *testing.T) {
	h := start(t)
	if code := h.call("POST", "/v1/orgs", h.token, api.CreateOrganisationRequest{Name: "team"}, nil); code != 201 {
		t.Fatalf("create org: %d", code)
	}
	// bob came from acme and joined team; carol came from team and
	// joined acme; ada is only in team.
	bob := h.member("bob@acme.test", "viewer")
	ada := h.inviteTo("team", "ada@team.test", "developer", "")
	h.inviteTo("team", "bob@acme.test", "admin", bob)
	carol := h.inviteTo("team", "carol@team.test", "viewer", "")
	h.inviteTo("acme", "carol@team.test", "viewer", carol)
	var adaTeam api.Token
	if code := h.orgCall("POST", "/v1/tokens", ada, "team", api.CreateTokenRequest{Name: "ci"}, &adaTeam); code != 201 {
		t.Fatalf("token for team: %d", code)
	}
	if code := h.orgCall("POST", "/v1/invitations", h.token, "team", api.CreateInvitationRequest{Email: "late@team.test", Role: "viewer"}, nil); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	if code := h.orgCall("POST", "/v1/projects", h.token, "team", api.CreateProjectRequest{Name: "teamapp"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}

	if code := h.orgCall("DELETE", "/v1/orgs/team", bob, "team", nil, nil); code != http.StatusForbidden {
		t.Fatalf("an admin deleted the organisation: %d", code)
	}
	var e api.Error
	if code := h.orgCall("DELETE", "/v1/orgs/team", h.token, "team", nil, &e); code != http.StatusConflict || !strings.Contains(e.Hint, "teamapp") {
		t.Fatalf("deleting an organisation with a project: %d %+v", code, e)
	}
	if code := h.orgCall("DELETE", "/v1/orgs/team", h.token, "acme", nil, nil); code != http.StatusNotFound {
		t.Fatalf("deleting team while acting in acme: %d", code)
	}
	if code := h.orgCall("DELETE", "/v1/projects/teamapp", h.token, "team", nil, nil); code != 200 {
		t.Fatalf("delete project: %d", code)
	}
	var out api.DeletedOrganisation
	if code := h.orgCall("DELETE", "/v1/orgs/team", h.token, "team", nil, &out); code != 200 || out.Members != 4 {
		t.Fatalf("delete org: %d %+v", code, out)
	}

	for who, token := range map[string]string{"ada": ada, "ada's team token": adaTeam.Secret, "bob": bob, "carol": carol} {
		if code := h.orgCall("GET", "/v1/projects", token, "team", nil, nil); code != 401 && code != 403 {
			t.Fatalf("%s still reads team: %d", who, code)
		}
	}
	if code := h.call("GET", "/v1/projects", adaTeam.Secret, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("a token tied to the deleted organisation: %d", code)
	}
	// ada keeps her account without an organisation; bob and carol keep
	// acme.
	if _, err := h.store.GetUserByEmail(context.Background(), "ada@team.test"); err != nil {
		t.Fatalf("ada's account: %v", err)
	}
	var orgs []api.Organisation
	if code := h.call("GET", "/v1/orgs", ada, nil, &orgs); code != 200 || len(orgs) != 0 {
		t.Fatalf("ada's organisations: %d %+v", code, orgs)
	}
	for who, token := range map[string]string{"bob": bob, "carol": carol} {
		if code := h.orgCall("GET", "/v1/projects", token, "acme", nil, nil); code != 200 {
			t.Fatalf("%s in acme: %d", who, code)
		}
	}
	// The audit log keeps the deletion, under the organisation's id.
	h.eventually("the audit entry of the deletion", func() bool {
		var recorded int
		err := h.store.Pool.QueryRow(context.Background(),
			"SELECT count(*) FROM audit_log WHERE action = 'organisation.delete' AND object = 'team' AND status = 200 AND organisation_id IS NOT NULL",
		).Scan(&recorded)
		return err == nil && recorded == 1
	})
	// The name is free again.
	if code := h.call("POST", "/v1/orgs", h.token, api.CreateOrganisationRequest{Name: "team"}, nil); code != 201 {
		t.Fatalf("create team again: %d", code)
	}
}

// TestAdministratorKeepsAccess: an installation administrator cannot
// delete an organisation that every token of theirs ends with.
func TestAdministratorKeepsAccess(t *testing.T) {
	h := start(t)
	if code := h.call("POST", "/v1/orgs", h.token, api.CreateOrganisationRequest{Name: "solo"}, nil); code != 201 {
		t.Fatalf("create org: %d", code)
	}
	var tok api.Token
	if code := h.orgCall("POST", "/v1/tokens", h.token, "solo", api.CreateTokenRequest{Name: "solo"}, &tok); code != 201 {
		t.Fatalf("token: %d", code)
	}
	// The administrator's only other token goes.
	if _, err := h.store.Pool.Exec(context.Background(), "UPDATE api_tokens SET revoked_at = now() WHERE id <> $1 AND kind = 'user' AND user_id = (SELECT user_id FROM api_tokens WHERE id = $1)", tok.ID); err != nil {
		t.Fatal(err)
	}
	var e api.Error
	if code := h.orgCall("DELETE", "/v1/orgs/solo", tok.Secret, "solo", nil, &e); code != http.StatusConflict || !strings.Contains(e.Error, "administer") {
		t.Fatalf("the administrator deleted the organisation of their last token: %d %+v", code, e)
	}
	if code := h.orgCall("GET", "/v1/projects", tok.Secret, "solo", nil, nil); code != 200 {
		t.Fatalf("the token after the refusal: %d", code)
	}
}

// inviteTo invites email into org with role and accepts it, with the
// user's token if they have one; it returns the new user's login token.
func (h *harness) inviteTo(org, email, role, token string) string {
	h.t.Helper()
	var inv api.Invitation
	if code := h.orgCall("POST", "/v1/invitations", h.token, org, api.CreateInvitationRequest{Email: email, Role: role}, &inv); code != 201 {
		h.t.Fatalf("invite %s: %d", email, code)
	}
	var acc api.AcceptInvitationResponse
	if code := h.call("POST", "/v1/invitations/accept", token, api.AcceptInvitationRequest{Token: inv.Token}, &acc); code != 200 {
		h.t.Fatalf("accept invitation of %s: %d", email, code)
	}
	return acc.Token
}

// TestDeleteProjectStopsItsBuildOnAnotherReplica: deleting a project
// through one replica stops its build running on another, promptly (the
// lease is long, so only the deletion's notification can stop it in time).
func TestDeleteProjectStopsItsBuildOnAnotherReplica(t *testing.T) {
	dbURL := storetest.URL(t)
	started := make(chan struct{}, 1)
	stopped := make(chan error, 1)
	fake := &operatortest.Builder{Hook: func(ctx context.Context, req build.Request) error {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- ctx.Err()
		return ctx.Err()
	}}
	a := operatortest.StartOn(t, dbURL, withBuilder(fake), func(c *operator.Config) { c.BuildLease = time.Hour })
	b := operatortest.StartOn(t, dbURL) // serves the API, runs no builds
	h := &harness{t: t, url: b.URL, store: b.Store, token: b.Token, srv: b}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	upload(t, a.URL, a.Token, "web", "", contextArchive(t, dockerfile))
	<-started
	var out api.DeletedProject
	if code := h.call("DELETE", "/v1/projects/web", h.token, nil, &out); code != 200 || out.CancelledBuilds != 1 {
		t.Fatalf("delete project: %d %+v", code, out)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the deleted project's build still runs on the other replica")
	}
}
