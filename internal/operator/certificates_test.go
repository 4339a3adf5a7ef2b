package operator_test

import (
	"context"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestProjectCertificates: the outcomes edges report for a project's hosts
// show on the project (issued, failed with the reason, none yet), and a
// report for another project's host does not.
func TestProjectCertificates(t *testing.T) {
	h := start(t)
	n := h.register("eu", "10.0.0.1:7443")
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		t.Fatalf("deploy: %d", code)
	}
	h.eventually("placement", func() bool {
		for _, in := range running(n.desired()) {
			if in.Deployment == d.ID {
				n.report(in.ID, api.InstanceHealthy, "")
				return true
			}
		}
		return false
	})
	h.eventually("web live", func() bool { return h.deployment(d.ID).Live })

	edge, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	versioned := api.VersionedLabel("web", d.ID) + ".apps.test"
	for _, s := range []api.CertStatus{
		{Name: "web.apps.test"},
		{Name: versioned, Error: "authorization failed: connection refused"},
		{Name: "other.apps.test"},
	} {
		if code := h.call("POST", "/v1/edge/certs/status", edge, s, nil); code != 200 {
			t.Fatalf("report %s: %d", s.Name, code)
		}
	}
	var certs []api.HostCertificate
	if code := h.call("GET", "/v1/projects/web/certificates", h.token, nil, &certs); code != 200 {
		t.Fatalf("list certificates: %d", code)
	}
	got := map[string]api.HostCertificate{}
	for _, c := range certs {
		got[c.Host] = c
	}
	if len(certs) != 2 || got["web.apps.test"].State != "issued" || got["web.apps.test"].IssuedAt == nil {
		t.Fatalf("certificates %+v: want web.apps.test issued and the versioned host", certs)
	}
	if f := got[versioned]; f.State != "failed" || f.LastError != "authorization failed: connection refused" || f.LastErrorAt == nil {
		t.Fatalf("versioned host %+v: want failed with the reason", f)
	}
	// A later success clears the failure.
	h.call("POST", "/v1/edge/certs/status", edge, api.CertStatus{Name: versioned}, nil)
	certs = nil
	h.call("GET", "/v1/projects/web/certificates", h.token, nil, &certs)
	for _, c := range certs {
		if c.State != "issued" || c.LastError != "" {
			t.Fatalf("after success: %+v", c)
		}
	}
}
