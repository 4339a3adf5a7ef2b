package operator_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// TestSignInRateLimit: after too many failures for an address, sign-in
// to it is refused with 429 and Retry-After, the right password too, on
// every replica; too many failures from one client refuse its other
// addresses as well. A success clears the address's failures.
func TestSignInRateLimit(t *testing.T) {
	dbURL := storetest.URL(t)
	limits := func(c *operator.Config) {
		fastPasswords(c)
		c.Sessions.EmailFailures, c.Sessions.AddrFailures = 3, 5
	}
	a := &harness{t: t}
	srv := operatortest.StartOn(t, dbURL, limits)
	a.url, a.store, a.token = srv.URL, srv.Store, srv.Token
	b := &harness{t: t}
	srvB := operatortest.StartOn(t, dbURL, limits)
	b.url, b.store = srvB.URL, srvB.Store
	a.setPassword(a.token, "", testPassword)

	// A success clears the address's failures.
	for range 2 {
		a.signIn("dev@acme.test", "wrong password")
	}
	if br, resp, _ := a.signIn("dev@acme.test", testPassword); br == nil {
		t.Fatalf("sign-in after 2 failures: %d", resp.StatusCode)
	}
	for i := range 3 {
		h := []*harness{a, b}[i%2] // the failures land on both replicas
		if _, resp, _ := h.signIn("dev@acme.test", "wrong password "+strconv.Itoa(i)); resp.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	for _, h := range []*harness{a, b} {
		_, resp, _ := h.signIn("dev@acme.test", testPassword)
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || retry < 1 || retry > 15*60 {
			t.Fatalf("sign-in after 3 failures: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	// Two more failures from this client, for other addresses, reach its
	// limit of five (the success cleared the first two): a fresh address
	// is refused too.
	for _, email := range []string{"x@acme.test", "y@acme.test"} {
		if _, resp, _ := a.signIn(email, "guess guess guess"); resp.StatusCode != 401 {
			t.Fatalf("failure for %s: %d", email, resp.StatusCode)
		}
	}
	if _, resp, _ := b.signIn("z@acme.test", "guess guess guess"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a fresh address from a client over its limit: %d", resp.StatusCode)
	}
	// Once the failures leave the window, the right password works.
	if _, err := a.store.Pool.Exec(context.Background(), "UPDATE sign_in_failures SET at = at - interval '16 minutes'"); err != nil {
		t.Fatal(err)
	}
	if br, resp, _ := b.signIn("dev@acme.test", testPassword); br == nil {
		t.Fatalf("sign-in after the window: %d", resp.StatusCode)
	}
}

// TestSignInLink: an administrator's sign-in link signs its user in once,
// and not after it expired; members may not make links.
func TestSignInLink(t *testing.T) {
	h := start(t, fastPasswords)
	dev := h.member("ada@acme.test", "developer")
	var link api.SignInLink
	if code := h.call("POST", "/v1/signin-links", h.token, api.CreateSignInLinkRequest{Email: "ada@acme.test"}, &link); code != 201 || link.Token == "" {
		t.Fatalf("create link: %d %+v", code, link)
	}
	if code := h.call("POST", "/v1/signin-links", dev, api.CreateSignInLinkRequest{}, nil); code != 403 {
		t.Fatalf("a developer makes a link: %d", code)
	}
	exchange := func(token string) (*browser, int, api.Session) {
		var s api.Session
		resp, _ := h.send("POST", "/v1/session/link", nil, api.SignInLinkRequest{Token: token}, &s)
		return h.browserFrom(resp, s), resp.StatusCode, s
	}
	b, code, s := exchange(link.Token)
	if b == nil || s.User.Email != "ada@acme.test" || s.Role != "developer" {
		t.Fatalf("exchange: %d %+v", code, s)
	}
	if code := b.do("GET", "/v1/projects", nil, nil); code != 200 {
		t.Fatalf("session of the link: %d", code)
	}
	if _, code, _ := exchange(link.Token); code != 401 {
		t.Fatalf("link used twice: %d", code)
	}
	var own api.SignInLink
	if code := h.call("POST", "/v1/signin-links", h.token, api.CreateSignInLinkRequest{}, &own); code != 201 || own.Email != "dev@acme.test" {
		t.Fatalf("own link: %d %+v", code, own)
	}
	if _, err := h.store.Pool.Exec(context.Background(), "UPDATE sign_in_links SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	if _, code, _ := exchange(own.Token); code != 401 {
		t.Fatalf("expired link: %d", code)
	}
	h.checkAudit("signin_link.create", "session.sign_in_link")
}

// TestPasswordChange: the current password is checked, the new one must be
// long enough, and the change ends the user's other sessions but not this
// one; the old password stops working.
func TestPasswordChange(t *testing.T) {
	h := start(t, fastPasswords)
	h.setPassword(h.token, "", testPassword)
	this, _, _ := h.signIn("dev@acme.test", testPassword)
	other, _, _ := h.signIn("dev@acme.test", testPassword)
	const newPassword = "a longer passphrase now"
	for _, c := range []struct {
		current, next string
		want          int
	}{{"wrong password", newPassword, 403}, {testPassword, "short", 400}, {testPassword, newPassword, 204}} {
		if code := this.do("PUT", "/v1/user/password", api.ChangePasswordRequest{CurrentPassword: c.current, NewPassword: c.next}, nil); code != c.want {
			t.Fatalf("change (%q -> %q): %d, want %d", c.current, c.next, code, c.want)
		}
	}
	if code := other.do("GET", "/v1/projects", nil, nil); code != 401 {
		t.Fatalf("other session after the change: %d", code)
	}
	if code := this.do("GET", "/v1/projects", nil, nil); code != 200 {
		t.Fatalf("this session after the change: %d", code)
	}
	if b, _, _ := h.signIn("dev@acme.test", testPassword); b != nil {
		t.Fatal("the old password still signs in")
	}
	if b, resp, _ := h.signIn("dev@acme.test", newPassword); b == nil {
		t.Fatalf("the new password: %d", resp.StatusCode)
	}
}

// TestSignupWithPassword: a password given at sign-up signs in.
func TestSignupWithPassword(t *testing.T) {
	h := start(t, fastPasswords)
	h.call("PUT", "/v1/settings", h.token, api.InstallationSettings{SignupDomains: []string{"initech.test"}}, nil)
	if code := h.call("POST", "/v1/signup", "", api.SignupRequest{Email: "bob@initech.test", Organisation: "initech", Password: "short"}, nil); code != 400 {
		t.Fatalf("sign-up with a short password: %d", code)
	}
	if code := h.call("POST", "/v1/signup", "", api.SignupRequest{Email: "bob@initech.test", Organisation: "initech", Password: testPassword}, nil); code != 201 {
		t.Fatalf("sign-up: %d", code)
	}
	if b, resp, s := h.signIn("bob@initech.test", testPassword); b == nil || s.Organisation.Name != "initech" {
		t.Fatalf("sign in: %d %+v", resp.StatusCode, s)
	}
}
