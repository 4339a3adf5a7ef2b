package operator_test

import (
	"context"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestDomainCertificateState: what the edges report about a domain's
// certificate shows on the domain (project and organisation lists, and
// verify): pending before any report; failed with the reason and a next
// attempt that grows with the failures in a row, whichever edge failed,
// and that an edge can ask for; issued with its expiry, which resets the
// backoff. Only edges may report.
func TestDomainCertificateState(t *testing.T) {
	h := start(t)
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	const name = "www.example.com"
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: name}, nil); code != 201 {
		t.Fatalf("add domain: %d", code)
	}
	if c := h.domain(h.token, "web", name).Certificate; c.Status != api.CertPending || c.ExpiresAt != nil {
		t.Fatalf("before any report: %+v, want pending", c)
	}
	edge1, err := operator.CreateEdgeToken(context.Background(), h.store, "edge-1")
	must(t, err)
	edge2, err := operator.CreateEdgeToken(context.Background(), h.store, "edge-2")
	must(t, err)
	if code := h.call("POST", "/v1/edge/certs/status", h.token, api.CertStatus{Name: name, Error: "x"}, nil); code != 401 && code != 403 {
		t.Fatalf("a user token reported a certificate outcome: %d", code)
	}

	report := func(edge string, s api.CertStatus) api.CertAttempt {
		t.Helper()
		var a api.CertAttempt
		if code := h.call("POST", "/v1/edge/certs/status", edge, s, &a); code != 200 {
			t.Fatalf("report %+v: %d", s, code)
		}
		return a
	}
	const why = "acme: authorization failed: connection refused"
	for i, tc := range []struct {
		edge string
		wait time.Duration
	}{{edge1, time.Minute}, {edge2, 2 * time.Minute}, {edge1, 5 * time.Minute}} {
		before := time.Now()
		a := report(tc.edge, api.CertStatus{Name: name, Error: why})
		if a.Failures != i+1 || a.NextAttemptAt == nil || a.NextAttemptAt.Before(before.Add(tc.wait-time.Second)) ||
			a.NextAttemptAt.After(time.Now().Add(tc.wait+time.Second)) {
			t.Fatalf("failure %d: %+v, want the next attempt in %v", i+1, a, tc.wait)
		}
	}
	var asked api.CertAttempt
	if code := h.call("GET", "/v1/edge/certs/status?name="+name, edge2, nil, &asked); code != 200 || asked.Failures != 3 || asked.LastError != why || asked.NextAttemptAt == nil {
		t.Fatalf("an edge asking for the next attempt: %d %+v", code, asked)
	}
	c := h.domain(h.token, "web", name).Certificate
	if c.Status != api.CertFailed || c.LastError != why || c.LastErrorAt == nil || c.NextAttemptAt == nil || !c.NextAttemptAt.Equal(*asked.NextAttemptAt) {
		t.Fatalf("after failures: %+v, want failed with the reason and the next attempt %v", c, asked.NextAttemptAt)
	}
	var org []api.Domain
	h.call("GET", "/v1/domains", h.token, nil, &org)
	if len(org) != 1 || org[0].Certificate.Status != api.CertFailed {
		t.Fatalf("organisation's domains: %+v", org)
	}

	expires := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	if a := report(edge2, api.CertStatus{Name: name, ExpiresAt: &expires}); a.Failures != 0 || a.NextAttemptAt != nil {
		t.Fatalf("a success did not reset the backoff: %+v", a)
	}
	c = h.domain(h.token, "web", name).Certificate
	if c.Status != api.CertIssued || c.ExpiresAt == nil || !c.ExpiresAt.Equal(expires) || c.LastError != "" || c.NextAttemptAt != nil {
		t.Fatalf("after success: %+v, want issued until %v", c, expires)
	}
	if a := report(edge1, api.CertStatus{Name: name, Error: why}); a.Failures != 1 ||
		a.NextAttemptAt.After(time.Now().Add(time.Minute+time.Second)) {
		t.Fatalf("a failed renewal after a success: %+v, want the first step again", a)
	}
	if c = h.verify(h.token, "web", name).Certificate; c.Status != api.CertFailed || c.ExpiresAt == nil || !c.ExpiresAt.Equal(expires) {
		t.Fatalf("verify's answer: %+v, want failed, still serving the certificate until %v", c, expires)
	}
}
