package operator_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// changeStream is an open GET /v1/stream: its change events, and a
// channel closed when the stream ends.
type changeStream struct {
	t       *testing.T
	changes chan api.Change
	ended   chan struct{}
}

// openStream opens the stream with the given headers (a bearer token or
// a session cookie).
func openStream(t *testing.T, url string, header http.Header) *changeStream {
	t.Helper()
	return openStreamAt(t, url+"/v1/stream", header)
}

// openStreamAt opens the stream at its full URL (with a query).
func openStreamAt(t *testing.T, streamURL string, header http.Header) *changeStream {
	t.Helper()
	req, _ := http.NewRequest("GET", streamURL, nil)
	req.Header = header.Clone()
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &changeStream{t: t, changes: make(chan api.Change, 1000), ended: make(chan struct{})}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != ": connected" {
		t.Fatalf("stream did not start: %q", sc.Text())
	}
	go func() {
		defer close(s.ended)
		defer resp.Body.Close()
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "change":
				var c api.Change
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &c)
				s.changes <- c
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

func bearerHeader(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// waitFor reads changes until one matches, and returns those before it.
func (s *changeStream) waitFor(what string, match func(api.Change) bool) []api.Change {
	s.t.Helper()
	var before []api.Change
	deadline := time.After(15 * time.Second)
	for {
		select {
		case c := <-s.changes:
			if match(c) {
				return before
			}
			before = append(before, c)
		case <-s.ended:
			s.t.Fatalf("stream ended waiting for %s", what)
		case <-deadline:
			s.t.Fatalf("timed out waiting for %s; got %+v", what, before)
		}
	}
}

func isChange(kind, id, project string) func(api.Change) bool {
	return func(c api.Change) bool { return c == api.Change{Kind: kind, ID: id, Project: project} }
}

// TestStreamIsOrganisationScoped: a member's stream shows their
// organisation's changes, as their role may see them, and never another
// organisation's.
func TestStreamIsOrganisationScoped(t *testing.T) {
	h := start(t, fastPasswords)
	h.memberWithPassword("val@acme.test", "viewer")
	b, _, _ := h.signIn("val@acme.test", testPassword)
	viewerStream := openStream(t, h.url, http.Header{"Cookie": {api.SessionCookie + "=" + b.cookie}})
	ownerStream := openStream(t, h.url, bearerHeader(h.token))
	globex := h.otherOrg("secret-project")
	h.call("PUT", "/v1/projects/secret-project/env/GLOBEX_VAR", globex, api.EnvVar{Value: "x"}, nil)

	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	h.call("PUT", "/v1/projects/web/env/ACME_VAR", h.token, api.EnvVar{Value: "y"}, nil)
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "last"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	ownerSaw := ownerStream.waitFor("the owner's project", isChange("project", "last", "last"))
	viewerSaw := viewerStream.waitFor("the viewer's project", isChange("project", "last", "last"))
	for who, saw := range map[string][]api.Change{"owner": ownerSaw, "viewer": viewerSaw} {
		for _, c := range saw {
			if strings.Contains(c.ID+c.Project, "secret-project") || strings.Contains(c.ID, "GLOBEX") || strings.Contains(c.ID, "globex") {
				t.Errorf("the %s's stream shows another organisation's change %+v", who, c)
			}
			if who == "viewer" && c.Kind == "env" {
				t.Errorf("the viewer's stream shows an env var: %+v", c)
			}
		}
	}
	has := func(saw []api.Change, c api.Change) bool {
		for _, s := range saw {
			if s == c {
				return true
			}
		}
		return false
	}
	if !has(ownerSaw, api.Change{Kind: "env", ID: "ACME_VAR", Project: "web"}) || !has(viewerSaw, api.Change{Kind: "project", ID: "web", Project: "web"}) {
		t.Errorf("missing changes: owner %+v, viewer %+v", ownerSaw, viewerSaw)
	}
}

// TestStreamAcrossReplicas: a change made through one operator replica
// reaches a stream held by another.
func TestStreamAcrossReplicas(t *testing.T) {
	dbURL := storetest.URL(t)
	a := operatortest.StartOn(t, dbURL)
	b := operatortest.StartOn(t, dbURL)
	s := openStream(t, a.URL, bearerHeader(a.Token))
	req, _ := http.NewRequest("POST", b.URL+"/v1/projects", strings.NewReader(`{"name":"via-b"}`))
	req.Header.Set("Authorization", "Bearer "+b.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create project through b: %v %v", err, resp)
	}
	resp.Body.Close()
	s.waitFor("the project made through replica b", isChange("project", "via-b", "via-b"))
}

// TestStreamEndsWithSession: signing out everywhere ends the streams the
// user's sessions hold.
func TestStreamEndsWithSession(t *testing.T) {
	h := start(t, fastPasswords)
	h.setPassword(h.token, "", testPassword)
	b, _, _ := h.signIn("dev@acme.test", testPassword)
	s := openStream(t, h.url, http.Header{"Cookie": {api.SessionCookie + "=" + b.cookie}})
	if code := h.call("POST", "/v1/session/revoke-all", h.token, nil, nil); code != 200 {
		t.Fatalf("revoke all: %d", code)
	}
	select {
	case <-s.ended:
	case <-time.After(15 * time.Second):
		t.Fatal("the stream outlived the session")
	}
}

// TestDeploymentEvents: a deployment's timeline, with its instances'
// entries, as it is placed and goes live; the stream tells of it.
func TestDeploymentEvents(t *testing.T) {
	h := start(t)
	s := openStream(t, h.url, bearerHeader(h.token))
	n := h.register("eu", "10.0.0.1:7443")
	n.heartbeat()
	d := h.liveProject(n, "web")
	s.waitFor("the deployment's change", isChange("deployment", d.ID, "web"))
	var events []api.DeploymentEvent
	h.eventually("the ready event", func() bool {
		events = nil
		h.call("GET", "/v1/deployments/"+d.ID+"/events", h.token, nil, &events)
		for _, e := range events {
			if e.Kind == "ready" {
				return true
			}
		}
		return false
	})
	kinds, instance, created := []string{}, false, false
	for i, e := range events {
		kinds = append(kinds, e.Kind)
		instance = instance || e.Instance != ""
		created = created || e.Kind == "created"
		if e.Message == "" || e.Time.IsZero() || i > 0 && e.ID <= events[i-1].ID {
			t.Errorf("event %+v", e)
		}
	}
	if !created || !instance {
		t.Errorf("events %v (an instance's: %v)", kinds, instance)
	}
	var page []api.DeploymentEvent
	if code := h.call("GET", "/v1/deployments/"+d.ID+"/events?after="+strconv.FormatInt(events[0].ID, 10), h.token, nil, &page); code != 200 || len(page) != len(events)-1 {
		t.Errorf("page after the first: %d %d of %d", code, len(page), len(events))
	}
	other := h.otherOrg("shop")
	if code := h.call("GET", "/v1/deployments/"+d.ID+"/events", other, nil, nil); code != 404 {
		t.Errorf("another organisation reads the events: %d", code)
	}
}
