package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestDashboardRoles: a viewer sees no control that would change anything
// (and the API refuses the change if the page sends it anyway), and a user
// of another organisation never sees the first one's data, on its pages
// or on its change stream.
func TestDashboardRoles(t *testing.T) {
	e := newEnv(t)
	if code := e.call("POST", "/v1/projects", e.srv.Token, api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	d := e.deploy("web", "v1")
	e.node.live(d.ID, 1)
	if code := e.call("PUT", "/v1/projects/web/env/API_KEY", e.srv.Token, api.EnvVar{Value: "x"}, nil); code != 204 {
		t.Fatalf("set env: %d", code)
	}
	e.member("vera@acme.test", api.RoleViewer)
	b := e.newBrowser()

	t.Run("viewer", func(t *testing.T) {
		b.signIn(t, "vera@acme.test")
		// Wait for each page's data, then count what could change it.
		controls := `main button, main form, main input, main select, main textarea`
		for _, pg := range []struct{ path, ready, want string }{
			{"/", `[data-test=project-web]`, "web"},
			{"/projects/web", `[data-test=live-deployment]`, d.ID},
			{"/projects/web/settings", `[data-test=port]`, "8080"},
			{"/deployments/" + d.ID, `[data-test=deployment-status]`, "ready"},
		} {
			b.open(t, pg.path, "main")
			b.waitText(t, pg.ready, pg.want)
			if n := b.count(t, controls); n != 0 {
				b.fail(t, "%s: a viewer sees %d controls: %s", pg.path, n, b.text(t, controls))
			}
		}
		// The organisation page offers a viewer only their own API tokens.
		b.open(t, "/org", "main")
		b.waitText(t, "main", "vera@acme.test")
		if n := b.count(t, `main form:not([data-test=token-form]), main select:not([data-test=token-form] select), main input:not([data-test=token-form] input), main button:not([data-test=token-form] button):not([data-test=token-revoke])`); n != 0 {
			b.fail(t, "/org: a viewer sees %d controls beyond their tokens", n)
		}
		// Sent anyway, the change is refused.
		if code := b.fetchStatus(t, "POST", "/v1/projects/web/rollback", true); code != 403 {
			t.Fatalf("a viewer's rollback: %d, want 403", code)
		}
		if code := b.fetchStatus(t, "PUT", "/v1/projects/web/env/API_KEY", true); code != 403 {
			t.Fatalf("a viewer's env change: %d, want 403", code)
		}
		b.click(t, `[data-test=signout]`)
		b.waitFor(t, "the sign-in page", func() bool { return b.count(t, `[data-test=email]`) == 1 })
	})

	t.Run("other organisation", func(t *testing.T) {
		eve, err := operator.Bootstrap(context.Background(), e.srv.Store, "other-org", "eve@other.test")
		if err != nil {
			t.Fatal(err)
		}
		e.setPassword(eve)
		if code := e.call("POST", "/v1/projects", eve, api.CreateProjectRequest{Name: "shop"}, nil); code != 201 {
			t.Fatalf("eve's project: %d", code)
		}
		b.signIn(t, "eve@other.test")
		b.waitText(t, `[data-test=project-shop]`, "shop")
		// Listen to eve's change stream from the page.
		eval[bool](t, b, `(() => {
			window.__changes = []
			const s = new EventSource("/v1/stream")
			s.addEventListener("change", (ev) => window.__changes.push(ev.data))
			s.onopen = () => (window.__streamOpen = true)
			return true
		})()`)
		b.waitFor(t, "eve's stream to open", func() bool { return eval[bool](t, b, `window.__streamOpen === true`) })

		// acme deploys and changes settings while eve watches; then eve
		// changes something of hers, which her stream must carry.
		d2 := e.deploy("web", "v2")
		e.node.live(d2.ID, 1)
		e.call("PUT", "/v1/projects/web/env/OTHER", e.srv.Token, api.EnvVar{Value: "y"}, nil)
		if code := e.call("PUT", "/v1/projects/shop/env/MINE", eve, api.EnvVar{Value: "z"}, nil); code != 204 {
			t.Fatalf("eve's env var: %d", code)
		}
		b.waitFor(t, "eve's own change on her stream", func() bool {
			return strings.Contains(eval[string](t, b, `window.__changes.join("\n")`), "shop")
		})
		changes := eval[string](t, b, `window.__changes.join("\n")`)
		for _, leak := range []string{`"web"`, d.ID, d2.ID} {
			if strings.Contains(changes, leak) {
				t.Fatalf("eve's stream carries acme's %s: %s", leak, changes)
			}
		}
		page := b.text(t, "main")
		for _, leak := range []string{"web", d.ID, d2.ID} {
			if strings.Contains(page, leak) {
				b.fail(t, "eve's projects page shows acme's %s", leak)
			}
		}
		// acme's pages, opened by name, show nothing of acme's.
		for _, path := range []string{"/projects/web", "/deployments/" + d.ID, "/projects/web/settings"} {
			b.open(t, path, "main")
			b.waitFor(t, path+" to show an error", func() bool { return b.count(t, `[data-test=error]`) > 0 })
			page := b.text(t, "main")
			for _, leak := range []string{d2.ID, "API_KEY", "ready", "healthy", "apps.test"} {
				if strings.Contains(page, leak) {
					b.fail(t, "%s shows eve acme's %q", path, leak)
				}
			}
		}
	})
}
