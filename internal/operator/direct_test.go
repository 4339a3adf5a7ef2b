package operator_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestDirectTransportRoutes: a node's reported direct address reaches the
// route table (and a new one moves the table on), a node without one
// leaves its backends without, and nodes learn the source addresses of
// the edges that use the direct transport, minus a removed edge's.
func TestDirectTransportRoutes(t *testing.T) {
	h := start(t)
	eu := h.register("eu", "10.0.0.1:7443")
	us := h.register("us", "10.0.0.3:7443")
	d := h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1})
	h.eventually("placement", func() bool { return len(eu.runningOf(d.ID)) == 1 && len(us.runningOf(d.ID)) == 1 })
	in := eu.runningOf(d.ID)[0].ID
	reportDirect := func(addr string) int {
		return h.call("POST", "/v1/nodes/"+eu.id+"/instances/"+in, eu.token,
			api.InstanceReport{State: api.InstanceHealthy, DirectAddr: addr}, nil)
	}
	if code := reportDirect("not an address"); code != http.StatusBadRequest {
		t.Errorf("a malformed direct address: %d, want 400", code)
	}
	if code := reportDirect("10.0.0.1:20000"); code != http.StatusNoContent {
		t.Fatalf("report: %d", code)
	}
	us.healthyAll()
	h.eventually("ready", func() bool { return h.deployment(d.ID).Live })

	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge direct-a")
	if err != nil {
		t.Fatal(err)
	}
	directOf := func() map[string]string {
		var routes api.RouteTable
		h.call("GET", "/v1/edge/routes", edgeToken, nil, &routes)
		out := map[string]string{}
		for _, r := range routes.Routes {
			if r.Host == "web.apps.test" {
				for _, b := range r.Backends {
					out[b.NodeAddr] = b.DirectAddr
				}
			}
		}
		return out
	}
	want := map[string]string{"10.0.0.1:7443": "10.0.0.1:20000", "10.0.0.3:7443": ""}
	h.eventually("direct address routed", func() bool { return maps.Equal(directOf(), want) })
	// Republished elsewhere (an agent restart that lost its port): the
	// table must move on, not serve the cached one.
	if code := reportDirect("10.0.0.1:20001"); code != http.StatusNoContent {
		t.Fatalf("report: %d", code)
	}
	want["10.0.0.1:7443"] = "10.0.0.1:20001"
	h.eventually("new direct address routed", func() bool { return maps.Equal(directOf(), want) })

	// Edges: one names its source, one leaves it to the operator (the
	// poll's address), one uses the tunnel and names none.
	other, err := operator.CreateEdgeToken(context.Background(), h.store, "edge direct-b")
	if err != nil {
		t.Fatal(err)
	}
	tunnelOnly, err := operator.CreateEdgeToken(context.Background(), h.store, "edge tunnel-only")
	if err != nil {
		t.Fatal(err)
	}
	desired := func() api.DesiredState {
		var ds api.DesiredState
		h.call("GET", "/v1/nodes/"+eu.id+"/desired", eu.token, nil, &ds)
		return ds
	}
	before := desired().Version
	if code := h.call("GET", "/v1/edge/routes?direct_source=nonsense", edgeToken, nil, nil); code != http.StatusBadRequest {
		t.Errorf("a malformed direct source: %d, want 400", code)
	}
	for tok, src := range map[string]string{edgeToken: "10.9.0.5", other: "", tunnelOnly: "-"} {
		path := "/v1/edge/routes?direct_source=" + src
		if src == "-" {
			path = "/v1/edge/routes"
		}
		if code := h.call("GET", path, tok, nil, nil); code != 200 {
			t.Fatalf("poll %s: %d", path, code)
		}
	}
	directEdges := func() []string { return desired().DirectEdges }
	// The version moves, so that nodes' long polls answer.
	h.eventually("nodes learn the edges", func() bool {
		ds := desired()
		return ds.Version > before && slices.Equal(ds.DirectEdges, []string{"10.9.0.5", "127.0.0.1"})
	})
	var listed []api.Edge
	h.call("GET", "/v1/edges", h.token, nil, &listed)
	sources := map[string]string{}
	for _, e := range listed {
		sources[e.Hostname] = e.DirectSource
	}
	if want := map[string]string{"direct-a": "10.9.0.5", "direct-b": "127.0.0.1", "tunnel-only": ""}; !maps.Equal(sources, want) {
		t.Errorf("edges list direct sources %v, want %v", sources, want)
	}
	if code := h.call("DELETE", "/v1/edges/direct-a", h.token, nil, nil); code != 200 {
		t.Fatalf("remove edge: %d", code)
	}
	h.eventually("nodes forget a removed edge", func() bool { return slices.Equal(directEdges(), []string{"127.0.0.1"}) })
}

// TestDirectTransportEdge: a real edge with the direct transport, fed by
// the operator, sends a request to the direct address a node reported
// (here an app on loopback standing in for the node's DNAT), and reports
// its source address, which the nodes then admit.
func TestDirectTransportEdge(t *testing.T) {
	h := start(t)
	// The tunnel address is a closed loopback port: were the direct
	// address not used, the edge's dial would go nowhere else.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	eu := h.register("eu", ln.Addr().String())
	d := h.deploy(api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1})
	h.eventually("placement", func() bool { return len(eu.runningOf(d.ID)) == 1 })
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the app, directly")
	}))
	t.Cleanup(app.Close)
	in := eu.runningOf(d.ID)[0].ID
	if code := h.call("POST", "/v1/nodes/"+eu.id+"/instances/"+in, eu.token,
		api.InstanceReport{State: api.InstanceHealthy, DirectAddr: app.Listener.Addr().String()}, nil); code != http.StatusNoContent {
		t.Fatalf("report: %d", code)
	}
	h.eventually("ready", func() bool { return h.deployment(d.ID).Live })

	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge direct")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	src := edge.NewOperatorSource(h.url, edgeToken, nil, log)
	src.Direct, src.DirectSource = true, "10.9.0.7"
	e := edge.New(edge.Config{Source: src, DirectTransport: true}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	h.eventually("edge has its routes", e.Ready)

	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = "web.apps.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "the app, directly" {
		t.Fatalf("through the edge: %d %q, want the app's answer from its direct address", resp.StatusCode, body)
	}
	h.eventually("nodes admit the edge", func() bool {
		var ds api.DesiredState
		h.call("GET", "/v1/nodes/"+eu.id+"/desired", eu.token, nil, &ds)
		return slices.Equal(ds.DirectEdges, []string{"10.9.0.7"})
	})
}
