package operator

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestRouteWithoutNeedIsRefused: a route added to the table without
// declaring who may use it cannot be registered.
func TestRouteWithoutNeedIsRefused(t *testing.T) {
	o := &Operator{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := func(http.ResponseWriter, *http.Request) error { return nil }
	_, err := o.mux([]route{{"GET /v1/projects", inOrg(roleViewer), h}, {"GET /v1/new", need{}, h}})
	if err == nil || !strings.Contains(err.Error(), "GET /v1/new") {
		t.Fatalf("a route without a need was registered: %v", err)
	}
	if _, err := o.mux(o.table()); err != nil {
		t.Fatalf("the API's own table: %v", err)
	}
}

// TestRoleOrder: each role may do what the ones below may; tokens cap it.
func TestRoleOrder(t *testing.T) {
	for _, s := range []string{"viewer", "developer", "admin", "owner"} {
		if parseRole(s).String() != s {
			t.Fatalf("role %s does not round-trip", s)
		}
	}
	if !(roleViewer < roleDeveloper && roleDeveloper < roleAdmin && roleAdmin < roleOwner) || parseRole("root") != roleNone {
		t.Fatal("roles out of order")
	}
	p := principal{kind: kindUser, role: roleDeveloper}
	if p.allow(onProject(roleDeveloper)) != nil || p.allow(inOrg(roleAdmin)) == nil || p.allow(installAdmin) == nil || p.allow(tokenKind(kindNode)) == nil {
		t.Fatal("a developer's allowances are wrong")
	}
}
