package operator_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

const testPassword = "correct horse battery"

// fastPasswords keeps argon2id's algorithm but not its memory cost, so
// that tests under -race sign in quickly (password_test.go checks the
// real costs).
func fastPasswords(c *operator.Config) { c.Sessions.PasswordMemoryKiB = 64 }

// browser is a dashboard in a browser: it sends the session cookie and,
// on changing requests, the CSRF token, as the dashboard's pages do.
type browser struct {
	h      *harness
	cookie string
	csrf   string
	// header is added to every request (Origin, Sec-Fetch-Site).
	header http.Header
}

// send makes a request the way a browser would, without a bearer token.
func (h *harness) send(method, path string, header http.Header, body, out any) (*http.Response, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(b, out)
	}
	return resp, b
}

// signIn signs in with a password; the browser is nil unless it worked.
func (h *harness) signIn(email, password string) (*browser, *http.Response, api.Session) {
	h.t.Helper()
	var s api.Session
	resp, _ := h.send("POST", "/v1/session", http.Header{"Content-Type": {"application/json"}}, api.SignInRequest{Email: email, Password: password}, &s)
	return h.browserFrom(resp, s), resp, s
}

func (h *harness) browserFrom(resp *http.Response, s api.Session) *browser {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie {
			return &browser{h: h, cookie: c.Value, csrf: s.CSRFToken, header: http.Header{}}
		}
	}
	h.t.Fatalf("sign-in set no %s cookie: %v", api.SessionCookie, resp.Header)
	return nil
}

// do sends a request with the session; changing ones carry the CSRF token.
func (b *browser) do(method, path string, body, out any) int {
	b.h.t.Helper()
	hdr := b.header.Clone()
	hdr.Set("Cookie", api.SessionCookie+"="+b.cookie)
	if method != "GET" && method != "HEAD" {
		hdr.Set(api.CSRFHeader, b.csrf)
	}
	resp, _ := b.h.send(method, path, hdr, body, out)
	return resp.StatusCode
}

// setPassword gives the harness's first user (dev@acme.test) a password.
func (h *harness) setPassword(token, current, pw string) {
	h.t.Helper()
	if code := h.call("PUT", "/v1/user/password", token, api.ChangePasswordRequest{CurrentPassword: current, NewPassword: pw}, nil); code != http.StatusNoContent {
		h.t.Fatalf("set password: %d", code)
	}
}

// TestSessionSignInAndOut: a password buys an HttpOnly, Secure, SameSite
// cookie that acts as the user, of which only a hash is stored; GET
// /v1/session answers a page load; sign-out ends it.
func TestSessionSignInAndOut(t *testing.T) {
	h := start(t, fastPasswords)
	h.setPassword(h.token, "", testPassword)
	b, resp, s := h.signIn("Dev@acme.test ", testPassword)
	if b == nil {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	if s.User.Email != "dev@acme.test" || s.Organisation == nil || s.Organisation.Name != "acme" || s.Role != "owner" || s.CSRFToken == "" || !s.User.InstallationAdmin {
		t.Fatalf("session %+v", s)
	}
	var c *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == api.SessionCookie {
			c = x
		}
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != int((7*24*time.Hour).Seconds()) || c.Domain != "" {
		t.Fatalf("cookie %+v", c)
	}
	sum := sha256.Sum256([]byte(b.cookie))
	var stored int
	if err := h.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE token_hash = $1", sum[:]).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("sessions stored by hash: %d %v", stored, err)
	}
	var again api.Session
	if code := b.do("GET", "/v1/session", nil, &again); code != 200 || again.CSRFToken != s.CSRFToken || again.User.ID != s.User.ID {
		t.Fatalf("get session: %d %+v", code, again)
	}
	if code := b.do("POST", "/v1/projects", api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project with the session: %d", code)
	}
	if code := b.do("DELETE", "/v1/session", nil, nil); code != http.StatusNoContent {
		t.Fatalf("sign out: %d", code)
	}
	if code := b.do("GET", "/v1/projects", nil, nil); code != 401 {
		t.Fatalf("the cookie after sign-out: %d", code)
	}
	if code := h.call("GET", "/v1/session", h.token, nil, nil); code != 400 {
		t.Fatalf("GET /v1/session with a bearer token: %d", code)
	}
	if resp, _ := h.send("GET", "/v1/session", nil, nil, nil); resp.StatusCode != 401 {
		t.Fatalf("GET /v1/session without a session: %d", resp.StatusCode)
	}
	h.checkAudit("session.sign_in", "session.sign_out", "user.password_change")
}

// checkAudit waits for entries with each of the actions.
func (h *harness) checkAudit(actions ...string) {
	h.t.Helper()
	for _, a := range actions {
		var n int
		if err := h.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action = $1 AND status < 400", a).Scan(&n); err != nil || n == 0 {
			h.t.Errorf("no audit entry %s: %v", a, err)
		}
	}
}

// TestSignInFailuresLookAlike: a wrong password, an unknown address and a
// user without a password get the same answer.
func TestSignInFailuresLookAlike(t *testing.T) {
	h := start(t, fastPasswords)
	h.setPassword(h.token, "", testPassword)
	h.member("nopass@acme.test", "viewer")
	var bodies []string
	for _, c := range [][2]string{{"dev@acme.test", "wrong password!"}, {"nobody@acme.test", testPassword}, {"nopass@acme.test", testPassword}} {
		resp, body := h.send("POST", "/v1/session", nil, api.SignInRequest{Email: c[0], Password: c[1]}, nil)
		if resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
			t.Fatalf("%s: %d %v", c[0], resp.StatusCode, resp.Cookies())
		}
		bodies = append(bodies, string(body))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("answers differ:\n%s\n%s\n%s", bodies[0], bodies[1], bodies[2])
	}
}

// TestSessionExpiry: a session ends when idle too long and at its
// absolute end, whichever comes first.
func TestSessionExpiry(t *testing.T) {
	h := start(t, fastPasswords, func(c *operator.Config) { c.Sessions.Idle = time.Hour })
	h.setPassword(h.token, "", testPassword)
	ctx := context.Background()
	idle, _, _ := h.signIn("dev@acme.test", testPassword)
	old, _, _ := h.signIn("dev@acme.test", testPassword)
	fresh, _, _ := h.signIn("dev@acme.test", testPassword)
	age := func(b *browser, column string, ago time.Duration) {
		sum := sha256.Sum256([]byte(b.cookie))
		if _, err := h.store.Pool.Exec(ctx, "UPDATE sessions SET "+column+" = now() - make_interval(secs => $2) WHERE token_hash = $1", sum[:], ago.Seconds()); err != nil {
			t.Fatal(err)
		}
	}
	age(idle, "last_seen_at", 61*time.Minute)
	age(old, "expires_at", time.Second)
	age(fresh, "last_seen_at", 59*time.Minute)
	for name, c := range map[string]struct {
		b    *browser
		want int
	}{"idle": {idle, 401}, "past its end": {old, 401}, "in use": {fresh, 200}} {
		if code := c.b.do("GET", "/v1/projects", nil, nil); code != c.want {
			t.Errorf("%s session: %d, want %d", name, code, c.want)
		}
	}
}

// TestRevokeAllSessions: "sign out everywhere" ends every session of the
// user, and only theirs; bearer tokens keep working.
func TestRevokeAllSessions(t *testing.T) {
	h := start(t, fastPasswords)
	h.setPassword(h.token, "", testPassword)
	h.memberWithPassword("ada@acme.test", "developer")
	a, _, _ := h.signIn("dev@acme.test", testPassword)
	b, _, _ := h.signIn("dev@acme.test", testPassword)
	other, _, _ := h.signIn("ada@acme.test", testPassword)
	var out api.RevokedSessions
	if code := a.do("POST", "/v1/session/revoke-all", nil, &out); code != 200 || out.Revoked != 2 {
		t.Fatalf("revoke all: %d %+v", code, out)
	}
	for name, c := range map[string]struct {
		b    *browser
		want int
	}{"this": {a, 401}, "other": {b, 401}, "another user's": {other, 200}} {
		if code := c.b.do("GET", "/v1/projects", nil, nil); code != c.want {
			t.Errorf("%s session: %d, want %d", name, code, c.want)
		}
	}
	if code := h.call("GET", "/v1/projects", h.token, nil, nil); code != 200 {
		t.Fatalf("bearer token after revoke-all: %d", code)
	}
}

// memberWithPassword invites a member who accepts with a password.
func (h *harness) memberWithPassword(email, role string) string {
	h.t.Helper()
	var inv api.Invitation
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: email, Role: role}, &inv); code != 201 {
		h.t.Fatalf("invite %s: %d", email, code)
	}
	var acc api.AcceptInvitationResponse
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token, Password: testPassword}, &acc); code != 200 || acc.Token == "" {
		h.t.Fatalf("accept invitation of %s: %d %+v", email, code, acc)
	}
	return acc.Token
}

// TestSessionCSRF: a changing request with the cookie needs the session's
// CSRF token; a bearer token needs none.
func TestSessionCSRF(t *testing.T) {
	h := start(t, fastPasswords)
	h.setPassword(h.token, "", testPassword)
	b, _, _ := h.signIn("dev@acme.test", testPassword)
	cookie := http.Header{"Cookie": {api.SessionCookie + "=" + b.cookie}}
	for name, token := range map[string]string{"missing": "", "wrong": strings.Repeat("A", len(b.csrf)), "other session's": ""} {
		hdr := cookie.Clone()
		if name == "other session's" {
			c, _, _ := h.signIn("dev@acme.test", testPassword)
			token = c.csrf
		}
		if token != "" {
			hdr.Set(api.CSRFHeader, token)
		}
		resp, body := h.send("POST", "/v1/projects", hdr, api.CreateProjectRequest{Name: "web"}, nil)
		if resp.StatusCode != 403 || !strings.Contains(string(body), api.CSRFHeader) {
			t.Errorf("%s CSRF token: %d %s", name, resp.StatusCode, body)
		}
	}
	if code := b.do("GET", "/v1/projects", nil, nil); code != 200 {
		t.Fatalf("GET without CSRF token: %d", code)
	}
	if code := b.do("POST", "/v1/projects", api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("POST with the CSRF token: %d", code)
	}
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "api"}, nil); code != 201 {
		t.Fatalf("bearer token without CSRF token: %d", code)
	}
	var projects []api.Project
	h.call("GET", "/v1/projects", h.token, nil, &projects)
	if len(projects) != 2 {
		t.Fatalf("projects: %+v", projects)
	}
}

// TestSessionRefusesCrossSite: a request with the cookie from another
// site's page is refused, even with the CSRF token, and so is a sign-in
// from one (login CSRF).
func TestSessionRefusesCrossSite(t *testing.T) {
	h := start(t, fastPasswords)
	h.setPassword(h.token, "", testPassword)
	b, _, _ := h.signIn("dev@acme.test", testPassword)
	for name, hdr := range map[string]http.Header{
		"cross-site":           {"Sec-Fetch-Site": {"cross-site"}},
		"same-site (an app)":   {"Sec-Fetch-Site": {"same-site"}},
		"foreign Origin":       {"Origin": {"https://evil.example"}},
		"null Origin":          {"Origin": {"null"}},
		"app subdomain Origin": {"Origin": {"http://shop.apps.test"}},
	} {
		b.header = hdr
		for _, method := range []string{"GET", "POST"} {
			if code := b.do(method, "/v1/projects", api.CreateProjectRequest{Name: "web"}, nil); code != 403 {
				t.Errorf("%s %s: %d", name, method, code)
			}
		}
		resp, _ := h.send("POST", "/v1/session", hdr, api.SignInRequest{Email: "dev@acme.test", Password: testPassword}, nil)
		if resp.StatusCode != 403 {
			t.Errorf("%s sign-in: %d", name, resp.StatusCode)
		}
	}
	b.header = http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {h.url}}
	if code := b.do("POST", "/v1/projects", api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("same-origin POST: %d", code)
	}
}
