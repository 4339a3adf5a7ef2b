package operator_test

import (
	"net/http"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestStreamFollowsNamedOrganisation: a member of two organisations opens
// the change stream for the second with ?org= (a browser's EventSource
// cannot send the organisation header): it carries that organisation's
// changes and never the first one's; naming an organisation the user is
// no member of is refused.
func TestStreamFollowsNamedOrganisation(t *testing.T) {
	h := start(t)
	h.otherOrg("shop")
	if code := h.call("POST", "/v1/orgs", h.token, api.CreateOrganisationRequest{Name: "side"}, nil); code != 201 {
		t.Fatalf("create org: %d", code)
	}
	req, _ := http.NewRequest("GET", h.url+"/v1/stream?org=globex", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // before any failure: an open stream would hold the server's shutdown
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a stream of an organisation the user is not in: %d, want 403", resp.StatusCode)
	}

	side := openStreamAt(t, h.url+"/v1/stream?org=side", bearerHeader(h.token))
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "first-org-app"}, nil); code != 201 {
		t.Fatalf("create project in acme: %d", code)
	}
	if code := h.orgCall("POST", "/v1/projects", h.token, "side", api.CreateProjectRequest{Name: "side-app"}, nil); code != 201 {
		t.Fatalf("create project in side: %d", code)
	}
	for _, c := range side.waitFor("side's project", isChange("project", "side-app", "side-app")) {
		if c.Project == "first-org-app" || c.ID == "first-org-app" {
			t.Fatalf("the stream of side carries acme's change %+v", c)
		}
	}
}
