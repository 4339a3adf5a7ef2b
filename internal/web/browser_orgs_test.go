package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestDashboardOrganisations: an owner revokes an invitation on the
// organisation page (its link then fails); a member of two organisations
// switches to the other one and sees only its projects, kept live by a
// change stream of that organisation.
func TestDashboardOrganisations(t *testing.T) {
	e := newEnv(t)
	if code := e.call("POST", "/v1/projects", e.srv.Token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	eve, err := operator.Bootstrap(context.Background(), e.srv.Store, "other-org", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}
	if code := e.call("POST", "/v1/projects", eve, api.CreateProjectRequest{Name: "shop"}, nil); code != 201 {
		t.Fatalf("eve's project: %d", code)
	}
	// eve invites acme's owner into other-org, who accepts as themself.
	var inv api.Invitation
	if code := e.call("POST", "/v1/invitations", eve, api.CreateInvitationRequest{Email: "dev@acme.test", Role: "developer"}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	if code := e.call("POST", "/v1/invitations/accept", e.srv.Token, api.AcceptInvitationRequest{Token: inv.Token}, nil); code != 200 {
		t.Fatalf("accept: %d", code)
	}
	b := e.newBrowser()
	b.signIn(t, "dev@acme.test")
	b.waitText(t, `[data-test=project-web]`, "web")

	t.Run("revoke invitation", func(t *testing.T) {
		b.open(t, "/org", `[data-test=invite-email]`)
		b.do(t, "invite",
			chromedp.SendKeys(chromedp.CSS(`[data-test=invite-email]`), "zed@acme.test"),
			chromedp.Click(chromedp.CSS(`[data-test=invite]`)),
		)
		b.waitFor(t, "the invitation link", func() bool { return b.count(t, `[data-test=invite-link]`) == 1 })
		link := eval[string](t, b, `document.querySelector("[data-test=invite-link]").value`)
		b.waitText(t, `[data-test="invitation-zed@acme.test"]`, "zed@acme.test")
		eval[bool](t, b, `(window.confirm = () => true, true)`)
		b.click(t, `[data-test="invitation-revoke-zed@acme.test"]`)
		b.waitFor(t, "the revoked invitation to leave the page", func() bool {
			return b.count(t, `[data-test="invitation-zed@acme.test"]`) == 0
		})
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		var is []api.Invitation
		e.call("GET", "/v1/invitations", e.srv.Token, nil, &is)
		if len(is) != 0 {
			t.Fatalf("pending invitations after the revoke: %+v", is)
		}
		if code := e.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: u.Query().Get("token"), Password: password}, nil); code != 404 {
			t.Fatalf("accepting the revoked invitation: %d, want 404", code)
		}
	})

	t.Run("switch organisation", func(t *testing.T) {
		b.open(t, "/", `[data-test=org-switch]`)
		b.waitText(t, `[data-test=project-web]`, "web")
		eval[bool](t, b, `(() => {
			const s = document.querySelector("[data-test=org-switch]")
			s.value = "other-org"
			s.dispatchEvent(new Event("change", { bubbles: true }))
			return true
		})()`)
		b.waitText(t, `[data-test=project-shop]`, "shop")
		b.waitText(t, `[data-test=whoami-role]`, "developer")
		if n := b.count(t, `[data-test=project-web]`); n != 0 {
			b.fail(t, "after switching to other-org the page still lists acme's project web")
		}
		// Live in the chosen organisation: its new project appears without
		// a reload, carried by its stream; acme's change meanwhile does not.
		eval[bool](t, b, `window.__notReloaded = true`)
		// (other-org's change first: acme's must not be what makes the page
		// fetch again.)
		if code := e.call("POST", "/v1/projects", eve, api.CreateProjectRequest{Name: "shop-two"}, nil); code != 201 {
			t.Fatalf("other-org's new project: %d", code)
		}
		b.waitText(t, `[data-test=project-shop-two]`, "shop-two")
		if code := e.call("POST", "/v1/projects", e.srv.Token, api.CreateProjectRequest{Name: "acme-new"}, nil); code != 201 {
			t.Fatalf("acme's new project: %d", code)
		}
		if code := e.call("POST", "/v1/projects", eve, api.CreateProjectRequest{Name: "shop-three"}, nil); code != 201 {
			t.Fatalf("other-org's third project: %d", code)
		}
		b.waitText(t, `[data-test=project-shop-three]`, "shop-three")
		if !eval[bool](t, b, `window.__notReloaded === true`) {
			b.fail(t, "the page was reloaded")
		}
		if page := b.text(t, "main"); strings.Contains(page, "acme-new") || strings.Contains(page, "web") {
			b.fail(t, "other-org's projects page shows acme's projects: %s", page)
		}
		// The choice holds across a reload.
		b.open(t, "/", `[data-test=project-shop]`)
		b.waitText(t, `[data-test=project-shop-two]`, "shop-two")
		if n := b.count(t, `[data-test=project-web]`); n != 0 {
			b.fail(t, "after a reload the page lists acme's project web again")
		}
	})
}
