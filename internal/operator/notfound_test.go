package operator_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestMissingRowsAre404: every endpoint answers 404 with a message and a
// hint for a project, deployment, instance or env var that does not exist,
// and answers the same for another organisation's, so that nobody learns
// what other tenants have.
func TestMissingRowsAre404(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1}, nil)
	n := h.register("eu", "10.0.0.1:7443")
	other := h.register("eu", "10.0.0.2:7443")
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		t.Fatalf("deploy: %d", code)
	}
	h.call("PUT", "/v1/projects/web/env/SECRET", h.token, api.EnvVar{Value: "x"}, nil)
	var instance string
	h.eventually("placement", func() bool {
		ins := append(running(n.desired()), running(other.desired())...)
		if len(ins) > 0 {
			instance = ins[0].ID
		}
		return instance != ""
	})
	eve, err := operator.Bootstrap(context.Background(), h.store, "other-org", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}

	dep := "/v1/deployments/" + d.ID
	cases := []struct {
		name, method, path, token string
		body                      any
	}{
		{"unknown project", "GET", "/v1/projects/nope", h.token, nil},
		{"unknown project's deployments", "GET", "/v1/projects/nope/deployments", h.token, nil},
		{"deploy to unknown project", "POST", "/v1/projects/nope/deployments", h.token, api.CreateDeploymentRequest{Image: ref}},
		{"rollback of unknown project", "POST", "/v1/projects/nope/rollback", h.token, api.RollbackRequest{}},
		{"rollback to unknown deployment", "POST", "/v1/projects/web/rollback", h.token, api.RollbackRequest{Deployment: "zzzzzzzz"}},
		{"env of unknown project", "GET", "/v1/projects/nope/env", h.token, nil},
		{"unset unknown env var", "DELETE", "/v1/projects/web/env/NOPE", h.token, nil},
		{"unknown deployment", "GET", "/v1/deployments/zzzzzzzz", h.token, nil},
		{"malformed deployment id", "GET", "/v1/deployments/not-a-slug-at-all", h.token, nil},
		{"deployment under the wrong project", "GET", "/v1/deployments/" + api.VersionedLabel("shop", d.ID), h.token, nil},
		{"stop unknown deployment", "DELETE", "/v1/deployments/zzzzzzzz", h.token, nil},
		{"logs of unknown deployment", "GET", "/v1/deployments/zzzzzzzz/logs", h.token, nil},

		{"other org: project", "GET", "/v1/projects/web", eve, nil},
		{"other org: deployments", "GET", "/v1/projects/web/deployments", eve, nil},
		{"other org: deploy", "POST", "/v1/projects/web/deployments", eve, api.CreateDeploymentRequest{Image: ref}},
		{"other org: rollback", "POST", "/v1/projects/web/rollback", eve, api.RollbackRequest{Deployment: d.ID}},
		{"other org: env", "GET", "/v1/projects/web/env", eve, nil},
		{"other org: set env", "PUT", "/v1/projects/web/env/SECRET", eve, api.EnvVar{Value: "y"}},
		{"other org: unset env", "DELETE", "/v1/projects/web/env/SECRET", eve, nil},
		{"other org: deployment", "GET", dep, eve, nil},
		{"other org: deployment by URL label", "GET", "/v1/deployments/" + api.VersionedLabel("web", d.ID), eve, nil},
		{"other org: stop deployment", "DELETE", dep, eve, nil},
		{"other org: logs", "GET", dep + "/logs", eve, nil},

		{"node: unknown instance", "POST", "/v1/nodes/" + n.id + "/instances/" + uuid.NewString(), n.token, api.InstanceReport{State: api.InstanceHealthy}},
		{"node: another node's instance", "POST", "/v1/nodes/" + other.id + "/instances/" + uuid.NewString(), other.token, api.InstanceReport{State: api.InstanceHealthy}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e api.Error
			if code := h.call(c.method, c.path, c.token, c.body, &e); code != 404 || !strings.Contains(e.Error, "not found") || e.Hint == "" {
				t.Fatalf("%s %s: %d %+v, want 404 with a hint", c.method, c.path, code, e)
			}
		})
	}
	// The node that does not hold the instance cannot report it either.
	stranger := other
	if len(running(n.desired())) == 0 {
		stranger = n
	}
	var e api.Error
	if code := h.call("POST", "/v1/nodes/"+stranger.id+"/instances/"+instance, stranger.token, api.InstanceReport{State: api.InstanceHealthy}, &e); code != 404 {
		t.Fatalf("a node reported another node's instance: %d %+v", code, e)
	}
	// Nothing of the first organisation changed.
	if got := h.deployment(d.ID); got.Status == api.StatusStopped {
		t.Fatalf("another organisation stopped the deployment: %+v", got)
	}
	var vars []api.EnvVar
	if h.call("GET", "/v1/projects/web/env", h.token, nil, &vars); len(vars) != 1 {
		t.Fatalf("env vars after the other organisation's attempts: %+v", vars)
	}
}
