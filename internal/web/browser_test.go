package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestDashboard drives the dashboard in a real Chromium against a real
// operator, step by step as a user would: each step builds on the last,
// and the page is loaded once for the live parts, so that what changes
// there changes without a reload.
func TestDashboard(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()

	b.signIn(t, "dev@acme.test")

	// Create a project from the projects page.
	b.do(t, "create project",
		chromedp.SendKeys(chromedp.CSS(`[data-test=new-project]`), "web"),
		chromedp.Click(chromedp.CSS(`[data-test=create-project]`)),
	)
	b.waitText(t, `[data-test=project-web]`, "web")
	var p api.Project
	if code := e.call("GET", "/v1/projects/web", e.srv.Token, nil, &p); code != 200 {
		t.Fatalf("the project the page created: %d", code)
	}

	// Open the project page once; a marker in the page's JavaScript state
	// proves below that it was never reloaded.
	b.click(t, `[data-test=project-web] a`)
	b.waitText(t, `[data-test=live-deployment]`, "none")
	eval[bool](t, b, `window.__notReloaded = true`)
	notReloaded := func() {
		t.Helper()
		if !eval[bool](t, b, `window.__notReloaded === true`) {
			b.fail(t, "the page was reloaded")
		}
	}

	// A deployment started through the API shows up stage by stage.
	d1 := e.deploy("web", "v1")
	b.waitText(t, `[data-test=stages-`+d1.ID+`]`, "instances placed")
	ins := e.node.instances(d1.ID, p.MinInstancesPerRegion)
	for _, in := range ins {
		e.node.report(in.ID, api.InstanceStarting)
	}
	b.waitFor(t, "the booting stage to be active", func() bool {
		return b.count(t, `[data-test=stages-`+d1.ID+`] li.active`) > 0 && strings.Contains(b.text(t, `[data-test=stages-`+d1.ID+`] li.done`), "instances placed")
	})
	for _, in := range ins {
		e.node.report(in.ID, api.InstanceHealthy)
	}
	// The project URL moves to it.
	b.waitText(t, `[data-test=live-deployment]`, d1.ID)
	b.waitText(t, `[data-test=deployment-`+d1.ID+`]`, "ready")
	notReloaded()

	// Its deployment page: instance states, and a log line that arrives
	// after the page opened.
	b.click(t, `[data-test=live-deployment]`)
	b.waitText(t, `[data-test=deployment-status]`, "ready")
	b.waitText(t, `[data-test=instance-`+ins[0].ID+`]`, "healthy")
	b.waitFor(t, "the event timeline", func() bool { return b.count(t, `[data-test=events] li[data-test=event]`) > 0 })
	notReloaded()
	e.node.report(ins[0].ID, api.InstanceStarting)
	b.waitText(t, `[data-test=instance-`+ins[0].ID+`] [data-test=instance-state]`, "starting")
	e.node.report(ins[0].ID, api.InstanceHealthy)
	b.waitText(t, `[data-test=instance-`+ins[0].ID+`] [data-test=instance-state]`, "healthy")
	b.waitText(t, `[data-test=logs-state]`, "following")
	e.node.log(ins[0].ID, "hello from the app after the page opened")
	b.waitText(t, `[data-test=logs]`, "hello from the app after the page opened")
	notReloaded()

	// Settings: an env var's value is sent and never shown again.
	const secret = "s3cr3t-value-never-shown"
	b.open(t, "/projects/web/settings", `[data-test=env-name]`)
	b.do(t, "set env var",
		chromedp.SendKeys(chromedp.CSS(`[data-test=env-name]`), "API_KEY"),
		chromedp.SendKeys(chromedp.CSS(`[data-test=env-value]`), secret),
		chromedp.Click(chromedp.CSS(`[data-test=env-save]`)),
	)
	b.waitText(t, `[data-test=env-API_KEY]`, "API_KEY")
	if html := eval[string](t, b, `document.documentElement.outerHTML + JSON.stringify(Array.from(document.querySelectorAll("input")).map((i) => i.value))`); strings.Contains(html, secret) {
		b.fail(t, "the env var's value is still on the page")
	}

	// Settings: the port is edited on the page and the API has it.
	b.waitFor(t, "the port field to hold the project's port", func() bool {
		return eval[string](t, b, `document.querySelector("[data-test=rt-port]").value`) == "8080"
	})
	eval[bool](t, b, `(() => {
		const el = document.querySelector("[data-test=rt-port]")
		el.value = "3000"
		el.dispatchEvent(new Event("input", { bubbles: true }))
		return true
	})()`)
	b.click(t, `[data-test=rt-save]`)
	b.waitText(t, `[data-test=port]`, "3000")
	if code := e.call("GET", "/v1/projects/web", e.srv.Token, nil, &p); code != 200 || p.Port != 3000 {
		t.Fatalf("the port the settings page set: %d, port %d; want 3000", code, p.Port)
	}

	// Roll back: a second deployment goes live, then the page rolls back
	// to the first.
	b.open(t, "/projects/web", `[data-test=live-deployment]`)
	d2 := e.deploy("web", "v2")
	e.node.live(d2.ID, p.MinInstancesPerRegion)
	b.waitText(t, `[data-test=live-deployment]`, d2.ID)
	b.click(t, `[data-test=rollback-`+d1.ID+`]`)
	var rolled string
	b.waitFor(t, "a rollback deployment", func() bool {
		var ds []api.Deployment
		e.call("GET", "/v1/projects/web/deployments", e.srv.Token, nil, &ds)
		if len(ds) > 2 {
			rolled = ds[0].ID
		}
		return rolled != ""
	})
	e.node.live(rolled, p.MinInstancesPerRegion)
	b.waitText(t, `[data-test=live-deployment]`, rolled)

	// A change sent with the session cookie but without its CSRF token is
	// refused.
	if code := b.fetchStatus(t, "POST", "/v1/projects/web/rollback", false); code != http.StatusForbidden {
		t.Fatalf("a rollback without the CSRF token: %d, want 403", code)
	}

	// Sign out: the session cookie no longer works.
	cookie := sessionCookie(t, b)
	b.click(t, `[data-test=signout]`)
	b.waitFor(t, "the sign-in page", func() bool { return b.count(t, `[data-test=email]`) == 1 })
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/session", nil)
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the signed-out session cookie: %d, want 401", resp.StatusCode)
	}

	// A one-time sign-in link signs in, once.
	var link api.SignInLink
	if code := e.call("POST", "/v1/signin-links", e.srv.Token, api.CreateSignInLinkRequest{}, &link); code != 201 && code != 200 {
		t.Fatalf("sign-in link: %d", code)
	}
	b.open(t, "/signin?token="+link.Token, "main")
	b.waitText(t, `[data-test=whoami]`, "dev@acme.test")
	if strings.Contains(eval[string](t, b, `location.href`), link.Token) {
		b.fail(t, "the used sign-in link's token stays in the address bar")
	}

	// An invitation made on the organisation page is accepted in the
	// browser with a new password, which signs the new member in.
	b.open(t, "/org", `[data-test=invite-email]`)
	b.do(t, "invite",
		chromedp.SendKeys(chromedp.CSS(`[data-test=invite-email]`), "ada@acme.test"),
		chromedp.Click(chromedp.CSS(`[data-test=invite]`)),
	)
	b.waitFor(t, "the invitation link", func() bool { return b.count(t, `[data-test=invite-link]`) == 1 })
	inviteLink := eval[string](t, b, `document.querySelector("[data-test=invite-link]").value`)
	b.click(t, `[data-test=signout]`)
	b.waitFor(t, "the sign-in page", func() bool { return b.count(t, `[data-test=email]`) == 1 })
	b.do(t, "accept the invitation",
		chromedp.Navigate(inviteLink),
		chromedp.WaitVisible(chromedp.CSS(`[data-test=invite-password]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-test=invite-password]`), password),
		chromedp.Click(chromedp.CSS(`[data-test=accept]`)),
	)
	b.waitText(t, `[data-test=whoami]`, "ada@acme.test")
	b.waitText(t, `[data-test=whoami-role]`, "developer")
}

// sessionCookie reads the HttpOnly session cookie from the browser.
func sessionCookie(t *testing.T, b *browser) string {
	t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.e.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == api.SessionCookie {
			if !c.HTTPOnly {
				t.Fatal("the session cookie is readable by scripts")
			}
			return c.Value
		}
	}
	b.fail(t, "no %s cookie in the browser", api.SessionCookie)
	return ""
}
