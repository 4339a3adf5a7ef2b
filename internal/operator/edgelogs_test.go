package operator_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestEdgeAccessLogShipped runs a real edge on the operator's routes with
// log shipping on: a routed project's requests reach
// GET /v1/projects/{project}/edge-logs (and its follow stream) as the
// edge's JSON access log lines; an unknown host's do not, nor do they
// show under another project.
func TestEdgeAccessLogShipped(t *testing.T) {
	h := start(t)
	// The node's tunnel address is a loopback port where nothing listens:
	// requests reach the route and fail upstream (502), on loopback only.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	deadTunnel := ln.Addr().String()
	ln.Close()
	n := h.register("eu", deadTunnel)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.healthyLoop(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	h.liveDomainProject("web", h.token)
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "quiet"}, nil); code != 201 {
		t.Fatalf("create quiet: %d", code)
	}

	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	must(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := edge.New(edge.Config{
		Source: edge.NewOperatorSource(h.url, edgeToken, nil, log),
		Ship:   edge.NewLogShipper(h.url, edgeToken, nil, log),
	}, log)
	ectx, ecancel := context.WithCancel(context.Background())
	edone := make(chan struct{})
	go func() { defer close(edone); e.Run(ectx) }()
	t.Cleanup(func() { ecancel(); <-edone })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	h.eventually("edge has its routes", e.Ready)
	get := func(host, path, id string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Host = host
		req.Header.Set("X-Request-ID", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	h.eventually("web routed", func() bool { return get("web.apps.test", "/warmup", "warmup") != 404 })
	get("nope.apps.test", "/unrouted", "edgelog-nope")
	get("web.apps.test", "/first", "edgelog-1")

	type access struct {
		RequestID string `json:"request_id"`
		Host      string `json:"host"`
		Path      string `json:"path"`
		Status    int    `json:"status"`
		Project   string `json:"project"`
	}
	byID := func(lines []api.EdgeLogLine) map[string]access {
		out := map[string]access{}
		for _, l := range lines {
			var a access
			if err := json.Unmarshal([]byte(l.Text), &a); err != nil {
				t.Fatalf("line %q is not the edge's JSON: %v", l.Text, err)
			}
			out[a.RequestID] = a
		}
		return out
	}
	var got map[string]access
	h.eventually("web's access line stored", func() bool {
		var lines []api.EdgeLogLine
		if code := h.call("GET", "/v1/projects/web/edge-logs?tail=100", h.token, nil, &lines); code != 200 {
			t.Fatalf("edge logs: %d", code)
		}
		got = byID(lines)
		return got["edgelog-1"].RequestID != ""
	})
	if a := got["edgelog-1"]; a.Host != "web.apps.test" || a.Path != "/first" || a.Status != 502 || a.Project != "web" {
		t.Fatalf("stored line %+v", a)
	}
	if _, ok := got["edgelog-nope"]; ok {
		t.Fatal("an unknown host's request was stored under web")
	}
	var quiet []api.EdgeLogLine
	if code := h.call("GET", "/v1/projects/quiet/edge-logs", h.token, nil, &quiet); code != 200 || len(quiet) != 0 {
		t.Fatalf("quiet's edge logs: %d %v", code, quiet)
	}

	// Follow: the stream starts with the last line and carries new ones.
	req, _ := http.NewRequest("GET", h.url+"/v1/projects/web/edge-logs?tail=1&follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("follow: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	get("web.apps.test", "/second", "edgelog-2")
	seen := make(chan string, 16)
	go func() {
		s := bufio.NewScanner(resp.Body)
		for s.Scan() {
			if data, ok := strings.CutPrefix(s.Text(), "data: "); ok {
				var l api.EdgeLogLine
				json.Unmarshal([]byte(data), &l)
				var a access
				json.Unmarshal([]byte(l.Text), &a)
				seen <- a.RequestID
			}
		}
		close(seen)
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case id, ok := <-seen:
			if !ok {
				t.Fatal("follow stream ended before edgelog-2")
			}
			if id == "edgelog-2" {
				return
			}
		case <-deadline:
			t.Fatal("edgelog-2 not followed within 10s")
		}
	}
}
