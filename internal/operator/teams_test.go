package operator_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/mail"
	"github.com/zeitwork/zeitwork/internal/mail/mailtest"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// member invites email into the bootstrap user's organisation with role,
// accepts, and returns the new user's login token.
func (h *harness) member(email, role string) string {
	h.t.Helper()
	var inv api.Invitation
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: email, Role: role}, &inv); code != 201 {
		h.t.Fatalf("invite %s: %d", email, code)
	}
	var acc api.AcceptInvitationResponse
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token}, &acc); code != 200 || acc.Token == "" {
		h.t.Fatalf("accept invitation of %s: %d %+v", email, code, acc)
	}
	return acc.Token
}

// TestInvitationIsSingleUse: an invitation makes a member once; used again
// or after it expired it is refused, and it never hands out an existing
// account.
func TestInvitationIsSingleUse(t *testing.T) {
	h := start(t)
	var inv api.Invitation
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: "ada@acme.test", Role: "developer"}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	var acc api.AcceptInvitationResponse
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token}, &acc); code != 200 || acc.Token == "" || acc.Role != "developer" {
		t.Fatalf("accept: %d %+v", code, acc)
	}
	if code := h.call("GET", "/v1/projects", acc.Token, nil, nil); code != 200 {
		t.Fatalf("the new member's token: %d", code)
	}
	var again api.AcceptInvitationResponse
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token}, &again); code != http.StatusGone || again.Token != "" {
		t.Fatalf("an invitation was accepted twice: %d %+v", code, again)
	}

	// Expired.
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: "bob@acme.test", Role: "viewer"}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	if _, err := h.store.Pool.Exec(context.Background(), "UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = 'bob@acme.test'"); err != nil {
		t.Fatal(err)
	}
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token}, nil); code != http.StatusGone {
		t.Fatalf("an expired invitation was accepted: %d", code)
	}
	if _, err := h.store.GetUserByEmail(context.Background(), "bob@acme.test"); err == nil {
		t.Fatal("an expired invitation made a user")
	}

	// An existing user joins another organisation only with their own token.
	globex := h.otherOrg("bravo")
	if code := h.call("POST", "/v1/invitations", globex, api.CreateInvitationRequest{Email: "ada@acme.test", Role: "viewer"}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token}, &again); code != 401 || again.Token != "" {
		t.Fatalf("an invitation handed out an existing account: %d %+v", code, again)
	}
	if code := h.call("POST", "/v1/invitations/accept", h.token, api.AcceptInvitationRequest{Token: inv.Token}, nil); code != 403 {
		t.Fatalf("another user accepted ada's invitation: %d", code)
	}
	if code := h.call("POST", "/v1/invitations/accept", acc.Token, api.AcceptInvitationRequest{Token: inv.Token}, &again); code != 200 || again.Token != "" {
		t.Fatalf("ada accepting with her token: %d %+v", code, again)
	}
	var ps []api.Project
	if code := h.orgCall("GET", "/v1/projects", acc.Token, "globex", nil, &ps); code != 200 || len(ps) != 1 || ps[0].Name != "bravo" {
		t.Fatalf("ada in globex: %d %+v", code, ps)
	}
	if code := h.orgCall("POST", "/v1/projects/bravo/deployments", acc.Token, "globex", api.CreateDeploymentRequest{Image: "x"}, nil); code != 403 {
		t.Fatalf("a viewer deployed: %d", code)
	}

	// An invitation never demotes: the owner accepting a viewer's
	// invitation stays owner.
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: "dev@acme.test", Role: "viewer"}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	if code := h.call("POST", "/v1/invitations/accept", h.token, api.AcceptInvitationRequest{Token: inv.Token}, &again); code != 200 || again.Role != "owner" {
		t.Fatalf("the owner accepting a viewer's invitation: %d %+v", code, again)
	}
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: "x@acme.test", Role: "viewer"}, nil); code != 201 {
		t.Fatalf("the owner lost the owner role to an invitation: %d", code)
	}
}

// TestRemovedMemberLosesAccessAtOnce: removing a member stops their login
// token and their tokens for the organisation on the next request; a
// lowered role takes effect at once too; the last owner stays.
func TestRemovedMemberLosesAccessAtOnce(t *testing.T) {
	h := start(t)
	login := h.member("ada@acme.test", "admin")
	var tok api.Token
	if code := h.call("POST", "/v1/tokens", login, api.CreateTokenRequest{Name: "ci"}, &tok); code != 201 || tok.Secret == "" || tok.Role != "admin" {
		t.Fatalf("create token: %d %+v", code, tok)
	}
	for i, token := range []string{login, tok.Secret} {
		if code := h.call("POST", "/v1/projects", token, api.CreateProjectRequest{Name: fmt.Sprintf("p%d", i)}, nil); code != 201 {
			t.Fatalf("an admin's token: %d", code)
		}
	}
	if code := h.call("PATCH", "/v1/members/ada@acme.test", h.token, api.SetRoleRequest{Role: "viewer"}, nil); code != 204 {
		t.Fatalf("set role: %d", code)
	}
	if code := h.call("POST", "/v1/projects", tok.Secret, api.CreateProjectRequest{Name: "late"}, nil); code != 403 {
		t.Fatalf("a token of a member lowered to viewer still created a project: %d", code)
	}

	// A log stream the member follows ends when they are removed.
	if code := h.call("PATCH", "/v1/members/ada@acme.test", h.token, api.SetRoleRequest{Role: "developer"}, nil); code != 204 {
		t.Fatalf("set role: %d", code)
	}
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	stream := h.follow("/v1/builds/"+queueBuild(t, h.store, "web")+"/logs", login)
	select {
	case <-stream:
		t.Fatal("the stream ended before the member was removed")
	case <-time.After(1500 * time.Millisecond): // past endOnLostAccess's first second
	}
	if code := h.call("DELETE", "/v1/members/ada@acme.test", h.token, nil, nil); code != 204 {
		t.Fatalf("remove member: %d", code)
	}
	select {
	case <-stream:
	case <-time.After(30 * time.Second):
		t.Fatal("a log stream of a removed member still runs")
	}
	for _, token := range []string{login, tok.Secret} {
		if code := h.call("GET", "/v1/projects", token, nil, nil); code != 401 && code != 403 {
			t.Fatalf("a removed member's token still reads the projects: %d", code)
		}
	}
	if code := h.call("DELETE", "/v1/members/dev@acme.test", h.token, nil, nil); code != http.StatusConflict {
		t.Fatalf("the last owner was removed: %d", code)
	}
	var members []api.Member
	if code := h.call("GET", "/v1/members", h.token, nil, &members); code != 200 || len(members) != 1 || members[0].Role != "owner" || !members[0].InstallationAdmin {
		t.Fatalf("members: %d %+v", code, members)
	}
}

// TestProjectScopedDeployToken: a developer token limited to one project
// pushes and deploys that project and nothing else; tokens never exceed
// their user's role; revoked and expired tokens are refused at once.
func TestProjectScopedDeployToken(t *testing.T) {
	h := start(t)
	for _, p := range []string{"web", "api"} {
		if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: p}, nil); code != 201 {
			t.Fatalf("create %s: %d", p, code)
		}
	}
	var ci api.Token
	if code := h.call("POST", "/v1/tokens", h.token, api.CreateTokenRequest{Name: "ci", Role: "developer", Projects: []string{"web"}, ExpiresIn: "24h"}, &ci); code != 201 {
		t.Fatalf("create token: %d", code)
	}
	ref := h.pushAs(ci.Secret, "web")
	if code := h.call("POST", "/v1/projects/web/deployments", ci.Secret, api.CreateDeploymentRequest{Image: ref}, nil); code != 201 {
		t.Fatalf("the deploy token could not deploy its project: %d", code)
	}
	if code := h.call("POST", "/v1/projects/api/deployments", ci.Secret, api.CreateDeploymentRequest{Image: ref}, nil); code != 403 {
		t.Fatalf("the deploy token deployed another project: %d", code)
	}
	if err := pushErr(h, ci.Secret, "api"); err == nil {
		t.Fatal("the deploy token pushed to another project's repository")
	}
	apiImage := h.pushAs(h.token, "api")
	if code := h.call("POST", "/v1/projects/web/deployments", ci.Secret, api.CreateDeploymentRequest{Image: apiImage}, nil); code != 403 {
		t.Fatalf("the deploy token deployed another project's image into its project: %d", code)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/projects"}, {"GET", "/v1/status"}, {"PATCH", "/v1/projects/web"},
		{"PUT", "/v1/projects/web/env/X"}, {"POST", "/v1/tokens"}, {"GET", "/v1/members"},
	} {
		if code := h.call(c.method, c.path, ci.Secret, map[string]string{}, nil); code != 403 {
			t.Errorf("the deploy token may %s %s: %d", c.method, c.path, code)
		}
	}

	viewer := h.member("ada@acme.test", "viewer")
	if code := h.call("POST", "/v1/tokens", viewer, api.CreateTokenRequest{Name: "up", Role: "admin"}, nil); code != 403 {
		t.Fatalf("a viewer made an admin token: %d", code)
	}

	var list []api.Token
	if code := h.call("GET", "/v1/tokens", h.token, nil, &list); code != 200 {
		t.Fatalf("list tokens: %d", code)
	}
	var seen bool
	for _, tk := range list {
		if tk.Name == "ci" {
			seen = tk.LastUsedAt != nil && tk.LastUsedAddr == "127.0.0.1" && slices.Equal(tk.Projects, []string{"web"}) && tk.Secret == ""
		}
	}
	if !seen {
		t.Fatalf("the ci token's use is not listed: %+v", list)
	}
	if code := h.call("DELETE", "/v1/tokens/ci", h.token, nil, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code := h.call("GET", "/v1/projects/web", ci.Secret, nil, nil); code != 401 {
		t.Fatalf("a revoked token was accepted: %d", code)
	}

	var short api.Token
	if code := h.call("POST", "/v1/tokens", h.token, api.CreateTokenRequest{Name: "short"}, &short); code != 201 {
		t.Fatalf("create token: %d", code)
	}
	if _, err := h.store.Pool.Exec(context.Background(), "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'short'"); err != nil {
		t.Fatal(err)
	}
	if code := h.call("GET", "/v1/projects", short.Secret, nil, nil); code != 401 {
		t.Fatalf("an expired token was accepted: %d", code)
	}
}

func pushErr(h *harness, token, repo string) error {
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte("x")}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		return err
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(h.url, "http://")+"/"+repo+":v1", name.Insecure)
	_, err = image.PushImage(context.Background(), img, ref, &authn.Basic{Username: "u", Password: token}, nil)
	return err
}

// orgCall is call naming the organisation the request acts in.
func (h *harness) orgCall(method, path, token, org string, body, out any) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(api.OrganisationHeader, org)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestSignupIsClosedByDefault: nobody signs up until an installation
// administrator opens sign-up to a domain; then only that domain's
// addresses do, each with an organisation of their own, and never as an
// existing user.
func TestSignupIsClosedByDefault(t *testing.T) {
	h := start(t)
	ada := api.SignupRequest{Email: "ada@example.com", Organisation: "ada-team"}
	if code := h.call("POST", "/v1/signup", "", ada, nil); code != 403 {
		t.Fatalf("sign-up is open by default: %d", code)
	}
	open := api.InstallationSettings{SignupDomains: []string{"Example.com"}}
	if code := h.call("PUT", "/v1/settings", h.member("owner2@acme.test", "owner"), open, nil); code != 403 {
		t.Fatalf("an owner who does not administer the installation opened sign-up: %d", code)
	}
	var set api.InstallationSettings
	if code := h.call("PUT", "/v1/settings", h.token, open, &set); code != 200 || !slices.Equal(set.SignupDomains, []string{"example.com"}) {
		t.Fatalf("open sign-up: %d %+v", code, set)
	}
	if code := h.call("POST", "/v1/signup", "", api.SignupRequest{Email: "eve@example.com.evil.test", Organisation: "evil"}, nil); code != 403 {
		t.Fatalf("another domain signed up: %d", code)
	}
	var acc api.AcceptInvitationResponse
	if code := h.call("POST", "/v1/signup", "", ada, &acc); code != 201 || acc.Token == "" || acc.Role != "owner" {
		t.Fatalf("sign-up: %d %+v", code, acc)
	}
	var orgs []api.Organisation
	if code := h.call("GET", "/v1/orgs", acc.Token, nil, &orgs); code != 200 || len(orgs) != 1 || orgs[0].Name != "ada-team" {
		t.Fatalf("ada's organisations: %d %+v", code, orgs)
	}
	if code := h.call("POST", "/v1/signup", "", api.SignupRequest{Email: "ada@example.com", Organisation: "again"}, &acc); code != 409 {
		t.Fatalf("signed up as an existing user: %d", code)
	}
	if code := h.call("POST", "/v1/signup", "", api.SignupRequest{Email: "bob@example.com", Organisation: "acme"}, nil); code != 409 {
		t.Fatalf("signed up into an existing organisation: %d", code)
	}
	if _, err := h.store.GetUserByEmail(context.Background(), "bob@example.com"); err == nil {
		t.Fatal("a refused sign-up left a user behind")
	}
	if code := h.call("PUT", "/v1/settings", h.token, api.InstallationSettings{}, nil); code != 200 {
		t.Fatalf("close sign-up: %d", code)
	}
	if code := h.call("POST", "/v1/signup", "", api.SignupRequest{Email: "carl@example.com", Organisation: "carl"}, nil); code != 403 {
		t.Fatalf("signed up after sign-up was closed: %d", code)
	}
}

// follow opens an event stream and returns a channel closed when it ends;
// it fails the test if the stream does not open.
func (h *harness) follow(path, token string) <-chan struct{} {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		h.t.Fatalf("stream %s: %d", path, resp.StatusCode)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
	}()
	h.t.Cleanup(func() { resp.Body.Close() })
	return done
}

// TestInvitationMailed: with a relay configured, an invitation is mailed
// to the invitee with the command that accepts it against the operator's
// public URL (not the request's Host), the API no longer hands the secret
// to the inviter, and the mailed token works once. A relay that refuses
// leaves the invitation standing and says why.
func TestInvitationMailed(t *testing.T) {
	relay := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "zw", Password: "pw"})
	h := start(t, func(c *operator.Config) {
		c.PublicURL = "https://zeitwork.example.test"
		c.Mail = &mail.Config{Addr: relay.Addr, From: "Zeitwork <zeitwork@example.test>", Username: "zw", Password: "pw",
			TLS: &tls.Config{RootCAs: relay.Roots}}
	})
	var inv api.Invitation
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: "ada@acme.test", Role: "developer"}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	if !inv.Mailed || inv.Token != "" || inv.MailError != "" {
		t.Fatalf("invitation answer: %+v, want mailed without the token", inv)
	}
	msgs := relay.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "ada@acme.test" {
		t.Fatalf("mailed: %+v", msgs)
	}
	m := regexp.MustCompile(`zeitwork login --api (\S+) --invite (zwi_[A-Za-z0-9_=\r\n-]+)`).FindStringSubmatch(msgs[0].Data)
	if m == nil || m[1] != "https://zeitwork.example.test" {
		t.Fatalf("no accept command for the public URL in:\n%s", msgs[0].Data)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(msgs[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`--invite (zwi_[A-Za-z0-9_-]+)`).FindStringSubmatch(string(body))
	var acc api.AcceptInvitationResponse
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: token[1]}, &acc); code != 200 || acc.Token == "" {
		t.Fatalf("accept the mailed invitation: %d %+v", code, acc)
	}

	// A relay that refuses the login: the invitation is made and handed to
	// the inviter, with the reason.
	h2 := start(t, func(c *operator.Config) {
		c.PublicURL = "https://zeitwork.example.test"
		c.Mail = &mail.Config{Addr: relay.Addr, From: "zeitwork@example.test", Username: "zw", Password: "wrong",
			TLS: &tls.Config{RootCAs: relay.Roots}}
	})
	inv = api.Invitation{}
	if code := h2.call("POST", "/v1/invitations", h2.token, api.CreateInvitationRequest{Email: "bob@acme.test", Role: "viewer"}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	if inv.Mailed || inv.Token == "" || !strings.Contains(inv.MailError, "log in as zw") {
		t.Fatalf("invitation after a refused mail: %+v", inv)
	}
}
