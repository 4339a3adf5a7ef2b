package operator_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// enrol registers a node with the given join token and reports the status.
func (h *harness) enrol(join, addr string) (int, api.Error) {
	h.t.Helper()
	var e api.Error
	code := h.call("POST", "/v1/nodes/register", join, api.RegisterNodeRequest{
		Region: "eu", Hostname: addr, TunnelAddr: addr, Driver: "fake", Accel: "tcg", CSR: testCSR(h.t),
	}, &e)
	return code, e
}

// TestJoinTokensAreSingleUseAndExpire: a join token enrols one node once,
// before it expires, and only a host of its role; only installation
// administrators make them.
func TestJoinTokensAreSingleUseAndExpire(t *testing.T) {
	h := start(t)
	var jt api.JoinToken
	if code := h.call("POST", "/v1/nodes/join-tokens", h.token, api.CreateJoinTokenRequest{TTLSeconds: 600}, &jt); code != 201 || jt.Role != "node" {
		t.Fatalf("create join token: %d %+v", code, jt)
	}
	if code, e := h.enrol(jt.Token, "10.0.0.1:7443"); code != 200 {
		t.Fatalf("fresh join token refused: %d %+v", code, e)
	}
	if code, e := h.enrol(jt.Token, "10.0.0.2:7443"); code != 401 || !strings.Contains(e.Error, "used already") {
		t.Errorf("reused join token: %d %+v", code, e)
	}

	expired := h.srv.JoinToken(t, "node")
	if _, err := h.store.Pool.Exec(context.Background(),
		"UPDATE join_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL"); err != nil {
		t.Fatal(err)
	}
	if code, e := h.enrol(expired, "10.0.0.3:7443"); code != 401 || !strings.Contains(e.Error, "expired") {
		t.Errorf("expired join token: %d %+v", code, e)
	}
	if code, e := h.enrol(h.srv.JoinToken(t, "edge"), "10.0.0.4:7443"); code != 401 || e.Hint == "" {
		t.Errorf("edge join token enrolled a node: %d %+v", code, e)
	}
	for _, tok := range []string{"", "zwj_forged", h.token} {
		if code, _ := h.enrol(tok, "10.0.0.5:7443"); code != 401 {
			t.Errorf("join token %q: %d", tok, code)
		}
	}
	owner := h.member("owner@acme.test", "owner")
	if code := h.call("POST", "/v1/nodes/join-tokens", owner, api.CreateJoinTokenRequest{}, nil); code != 403 {
		t.Errorf("a non-administrator made a join token: %d", code)
	}
	var n int
	h.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM nodes").Scan(&n)
	if n != 1 {
		t.Errorf("%d nodes enrolled, want 1", n)
	}
}

// TestRemovedNodeIsRefusedAtOnce: removing a node ends its long-poll,
// refuses its next request and its re-registration, and reschedules its
// instances on the other node.
func TestRemovedNodeIsRefusedAtOnce(t *testing.T) {
	h := start(t)
	a := h.register("eu", "10.0.0.1:7443")
	d := h.liveProject(a, "web")
	b := h.register("eu", "10.0.0.2:7443")
	var ds api.DesiredState
	h.call("GET", "/v1/nodes/"+a.id+"/desired", a.token, nil, &ds)

	// The node long-polls as an agent does. An answer that shows the
	// removal (its instance stopped or gone) would leak state to a removed node;
	// the removal must end the poll with a refusal instead.
	type answer struct {
		at     time.Time
		code   int
		leaked bool
	}
	ended := make(chan answer, 1)
	sent := make(chan struct{}, 100)
	trace := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { sent <- struct{}{} },
	})
	go func() {
		v, leaked := ds.Version, false
		for {
			req, _ := http.NewRequestWithContext(trace, "GET", h.url+"/v1/nodes/"+a.id+"/desired?after="+strconv.FormatInt(v, 10), nil)
			req.Header.Set("Authorization", "Bearer "+a.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				ended <- answer{time.Now(), 0, leaked}
				return
			}
			var got api.DesiredState
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				ended <- answer{time.Now(), resp.StatusCode, leaked}
				return
			}
			leaked = leaked || len(running(got.Instances)) != 1
			v = got.Version
		}
	}()

	<-sent // most likely parked by now; if not, it is refused all the same
	var removed api.RemovedNode
	if code := h.call("DELETE", "/v1/nodes/"+a.id[:8], h.token, nil, &removed); code != 200 || removed.ID != a.id || removed.Rescheduled != 1 {
		t.Fatalf("remove node: %d %+v", code, removed)
	}
	removedAt := time.Now()
	select {
	case got := <-ended:
		if got.at.Sub(removedAt) > 10*time.Second || got.code != http.StatusUnauthorized || got.leaked {
			t.Errorf("long-poll ended %s after the removal with %d, leaked the removal: %v; want at once, 401, no",
				got.at.Sub(removedAt), got.code, got.leaked)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the removed node's long-poll is still open")
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/nodes/" + a.id + "/heartbeat"},
		{"GET", "/v1/nodes/" + a.id + "/desired"},
	} {
		if code := h.call(c.method, c.path, a.token, nil, nil); code != 401 {
			t.Errorf("%s %s by a removed node: %d", c.method, c.path, code)
		}
	}
	if code := h.call("POST", "/v1/nodes/register", a.token, api.RegisterNodeRequest{
		NodeID: a.id, NodeToken: a.token, Region: "eu", Hostname: "a", TunnelAddr: "10.0.0.1:7443", Driver: "fake", CSR: testCSR(t),
	}, nil); code < 400 {
		t.Errorf("removed node registered again: %d", code)
	}
	h.eventually("rescheduled on b", func() bool { return len(instancesOf(b.desired(), d.ID)) == 1 })
	if code := h.call("DELETE", "/v1/nodes/no-such-node", h.token, nil, nil); code != 404 {
		t.Errorf("remove unknown node: %d", code)
	}
}

// TestEdgeEnrolsAndANodeAcceptsItsCertificate: an edge enrols once with
// an edge join token; its token reads routes, and a node's tunnel listener
// with the certificate the node got at registration carries its traffic.
func TestEdgeEnrolsAndANodeAcceptsItsCertificate(t *testing.T) {
	h := start(t)
	join := h.srv.JoinToken(t, "edge")
	id, err := edge.Enrol(context.Background(), h.url, join, t.TempDir(), "edge-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if code := h.call("GET", "/v1/edge/routes", id.Token, nil, nil); code != 200 {
		t.Errorf("enrolled edge's token reads no routes: %d", code)
	}
	if _, err := edge.Enrol(context.Background(), h.url, join, t.TempDir(), "edge-2", ""); err == nil || !strings.Contains(err.Error(), "used already") {
		t.Errorf("second edge enrolled with one join token: %v", err)
	}
	if _, err := edge.Enrol(context.Background(), h.url, h.srv.JoinToken(t, "node"), t.TempDir(), "edge-3", ""); err == nil {
		t.Error("an edge enrolled with a node join token")
	}

	// A node enrols with a key of its own and serves its tunnel.
	keyPEM, err := pki.LoadOrCreateKey(filepath.Join(t.TempDir(), "tunnel.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := pki.CSR(keyPEM)
	var reg api.RegisterNodeResponse
	if code := h.call("POST", "/v1/nodes/register", h.srv.JoinToken(t, "node"), api.RegisterNodeRequest{
		Region: "eu", Hostname: "n1", TunnelAddr: "127.0.0.1:7443", Driver: "fake", CSR: string(csr),
	}, &reg); code != 200 {
		t.Fatalf("register node: %d", code)
	}
	cred, err := pki.LoadCredential([]byte(reg.Certificate), keyPEM, []byte(reg.CA))
	if err != nil {
		t.Fatal(err)
	}
	app := echoServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tunnel.ServeTLS(ctx, ln, pki.TunnelServer(cred), func(string) (string, bool) { return app, true }, slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()

	conf := id.TunnelTLS.Clone()
	conf.ServerName = "127.0.0.1"
	c, err := tls.Dial("tcp", ln.Addr().String(), conf)
	if err != nil {
		t.Fatalf("node refused the enrolled edge: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tunnel.WriteHeader(c, "i-1", tunnel.TLSToken)
	io.WriteString(c, "ping")
	c.CloseWrite()
	if b, err := io.ReadAll(c); string(b) != "ping" {
		t.Fatalf("through the node's tunnel: %q %v", b, err)
	}
}

// echoServer answers each TCP connection with what it read until EOF.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); b, _ := io.ReadAll(c); c.Write(b) }()
		}
	}()
	return ln.Addr().String()
}

// TestOperatorOverTLS: with a certificate of the cluster CA, the API is
// reached by hosts that trust only that CA: an edge enrolling trusts the
// CA its join token pins, and a token pinning another CA is refused.
func TestOperatorOverTLS(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	conf, err := h.srv.Operator.ServerTLS(ctx, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h.srv.Operator.Handler())
	ts.TLS = conf
	ts.StartTLS()
	defer ts.Close()

	if _, err := http.Get(ts.URL + "/v1/status"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the cluster CA trusted the operator: %v", err)
	}
	join := h.srv.JoinToken(t, "edge")
	other, _, err := pki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, _ := strings.Cut(join, ".")
	if _, err := edge.Enrol(ctx, ts.URL, secret+"."+other.Pin(), t.TempDir(), "edge-x", ""); err == nil || !strings.Contains(err.Error(), "pin") {
		t.Errorf("enrolled against an operator whose CA the token does not pin: %v", err)
	}
	id, err := edge.Enrol(ctx, ts.URL, join, t.TempDir(), "edge-1", "")
	if err != nil {
		t.Fatalf("enrol over TLS: %v", err)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/v1/edge/routes", nil)
	req.Header.Set("Authorization", "Bearer "+id.Token)
	resp, err := id.HTTP.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("edge reads routes over TLS: %v %v", resp, err)
	}
	resp.Body.Close()
}

// An edge's region is recorded at enrolment and from its polls, and the
// admin listing says whether any node is in it, so that a misspelt
// --region (which means no preference) shows. A malformed one is refused.
func TestEdgeRegionRecordedAndListed(t *testing.T) {
	h := start(t)
	id, err := edge.Enrol(context.Background(), h.url, h.srv.JoinToken(t, "edge"), t.TempDir(), "edge-1", "eu-wset")
	if err != nil {
		t.Fatal(err)
	}
	listed := func() api.Edge {
		t.Helper()
		var es []api.Edge
		if code := h.call("GET", "/v1/edges", h.token, nil, &es); code != 200 || len(es) != 1 {
			t.Fatalf("GET /v1/edges: %d %+v", code, es)
		}
		return es[0]
	}
	if e := listed(); e.ID != id.ID || e.Hostname != "edge-1" || e.Region != "eu-wset" || e.RegionKnown {
		t.Fatalf("listed %+v, want edge-1 in unknown region eu-wset", e)
	}
	if code := h.call("GET", "/v1/edges", id.Token, nil, nil); code != 401 && code != 403 {
		t.Errorf("an edge's token listed the edges: %d", code)
	}

	// A node makes region eu known; the edge restarted with --region eu reports it.
	keyPEM, err := pki.LoadOrCreateKey(filepath.Join(t.TempDir(), "tunnel.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := pki.CSR(keyPEM)
	if code := h.call("POST", "/v1/nodes/register", h.srv.JoinToken(t, "node"), api.RegisterNodeRequest{
		Region: "eu", Hostname: "n1", TunnelAddr: "127.0.0.1:7443", Driver: "fake", CSR: string(csr),
	}, nil); code != 200 {
		t.Fatalf("register node: %d", code)
	}
	var rt api.RouteTable
	if code := h.call("GET", "/v1/edge/routes?region=eu", id.Token, nil, &rt); code != 200 {
		t.Fatalf("poll with region: %d", code)
	}
	if !slices.Equal(rt.Regions, []string{"eu"}) {
		t.Errorf("route table regions %v, want [eu]", rt.Regions)
	}
	if e := listed(); e.Region != "eu" || !e.RegionKnown {
		t.Fatalf("after a poll with region eu: %+v", e)
	}
	// A poll without the parameter (an older edge) leaves it alone.
	h.call("GET", "/v1/edge/routes", id.Token, nil, nil)
	if e := listed(); e.Region != "eu" {
		t.Fatalf("a poll without region changed it: %+v", e)
	}
	var apiErr api.Error
	if code := h.call("GET", "/v1/edge/routes?region=EU+West", id.Token, nil, &apiErr); code != 400 || !strings.Contains(apiErr.Hint, "--region") {
		t.Errorf("malformed region: %d %+v, want 400 naming --region", code, apiErr)
	}
	if _, err := edge.Enrol(context.Background(), h.url, h.srv.JoinToken(t, "edge"), t.TempDir(), "edge-2", "Eu"); err == nil || !strings.Contains(err.Error(), "invalid edge region") {
		t.Errorf("enrolled with a malformed region: %v", err)
	}
}
