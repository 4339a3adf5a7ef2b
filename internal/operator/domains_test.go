package operator_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// zone is a DNS server on loopback whose records the test sets: the
// operator's resolver in these tests.
type zone struct {
	mu      sync.Mutex
	records []dns.RR
	addr    string
}

func startZone(t *testing.T) *zone {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z := &zone{addr: pc.LocalAddr().String()}
	// The socket is bound before the server runs: queries sent meanwhile
	// wait in it, so there is nothing to wait for.
	srv := &dns.Server{PacketConn: pc, Handler: z}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return z
}

// set replaces the records of the name and type of each record given.
func (z *zone) set(t *testing.T, records ...string) {
	t.Helper()
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		z.remove(rr.Header().Name, rr.Header().Rrtype)
		z.mu.Lock()
		z.records = append(z.records, rr)
		z.mu.Unlock()
	}
}

func (z *zone) remove(name string, qtype uint16) {
	z.mu.Lock()
	defer z.mu.Unlock()
	kept := z.records[:0]
	for _, rr := range z.records {
		if !strings.EqualFold(rr.Header().Name, dns.Fqdn(name)) || rr.Header().Rrtype != qtype {
			kept = append(kept, rr)
		}
	}
	z.records = kept
}

func (z *zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	z.mu.Lock()
	exists := false
	for _, q := range req.Question {
		for _, rr := range z.records {
			if strings.EqualFold(rr.Header().Name, q.Name) {
				exists = true
				if rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, dns.Copy(rr))
				}
			}
		}
	}
	z.mu.Unlock()
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// domainsHarness is an operator that verifies domains against z, quickly.
func domainsHarness(t *testing.T, grace time.Duration, tweaks ...func(*operator.DomainConfig)) (*harness, *zone) {
	z := startZone(t)
	h := start(t, func(c *operator.Config) {
		c.Domains = operator.DomainConfig{DNSServer: z.addr, Grace: grace, Every: 50 * time.Millisecond,
			Recheck: 100 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
		for _, f := range tweaks {
			f(&c.Domains)
		}
	})
	return h, z
}

// liveDomainProject creates project name with a live deployment on a fake node
// that reports its instances healthy.
func (h *harness) liveDomainProject(name, token string) {
	h.t.Helper()
	if code := h.call("POST", "/v1/projects", token, api.CreateProjectRequest{Name: name, MinInstancesPerRegion: 1}, nil); code != 201 {
		h.t.Fatalf("create project %s: %d", name, code)
	}
	ref := h.pushImage(name, image.ImageConfig{Entrypoint: []string{"/app"}})
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/"+name+"/deployments", token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		h.t.Fatalf("deploy %s: %d", name, code)
	}
	h.eventually(name+" live", func() bool {
		var cur api.Deployment
		h.call("GET", "/v1/deployments/"+d.ID, token, nil, &cur)
		return cur.Live
	})
}

// healthyNode registers a node whose instances report healthy. Its tunnel
// is a loopback port nothing listens on: tests with a real edge send
// traffic only to this machine.
func (h *harness) healthyNode() {
	n := h.register("eu", "127.0.0.1:9")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.healthyLoop(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// routeOf is the route of host in the operator's table for edges, if any.
func (h *harness) routeOf(edgeToken, host string) *api.Route {
	var rt api.RouteTable
	if code := h.call("GET", "/v1/edge/routes", edgeToken, nil, &rt); code != 200 {
		h.t.Fatalf("routes: %d", code)
	}
	for _, r := range rt.Routes {
		if r.Host == host {
			return &r
		}
	}
	return nil
}

func (h *harness) domain(token, project, name string) api.Domain {
	h.t.Helper()
	var ds []api.Domain
	if code := h.call("GET", "/v1/projects/"+project+"/domains", token, nil, &ds); code != 200 {
		h.t.Fatalf("list domains: %d", code)
	}
	for _, d := range ds {
		if d.Name == name {
			return d
		}
	}
	h.t.Fatalf("%s is not listed: %+v", name, ds)
	return api.Domain{}
}

func (h *harness) verify(token, project, name string) api.Domain {
	h.t.Helper()
	var d api.Domain
	if code := h.call("POST", "/v1/projects/"+project+"/domains/"+name+"/verify", token, nil, &d); code != 200 {
		h.t.Fatalf("verify %s: %d", name, code)
	}
	return d
}

func record(d api.Domain, typ string) api.DNSRecord {
	for _, r := range d.Records {
		if r.Type == typ {
			return r
		}
	}
	return api.DNSRecord{}
}

// TestDomainVerifiedBeforeRouted: a domain is routed to the project's
// live deployment only once DNS holds both its TXT token and a CNAME to
// the project; a wrong token or a CNAME elsewhere leaves it unrouted,
// with the reason.
func TestDomainVerifiedBeforeRouted(t *testing.T) {
	h, z := domainsHarness(t, time.Hour)
	h.healthyNode()
	h.liveDomainProject("web", h.token)
	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	must(t, err)

	var d api.Domain
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "WWW.Example.com."}, &d); code != 201 {
		t.Fatalf("add: %d", code)
	}
	cname, txt := record(d, "CNAME"), record(d, "TXT")
	if d.Name != "www.example.com" || d.Status != api.DomainPending || d.Routed ||
		cname != (api.DNSRecord{Name: "www.example.com", Type: "CNAME", Value: "web.apps.test"}) ||
		txt.Name != "_zeitwork-challenge.www.example.com" || len(txt.Value) < 20 {
		t.Fatalf("added: %+v", d)
	}

	z.set(t, "_zeitwork-challenge.www.example.com. 60 IN TXT \"zw-not-the-token\"", "www.example.com. 60 IN CNAME web.apps.test.")
	if d = h.verify(h.token, "web", "www.example.com"); d.Status != api.DomainPending || !strings.Contains(d.Reason, "not this domain's token") {
		t.Fatalf("with a wrong token: %+v", d)
	}
	z.set(t, "_zeitwork-challenge.www.example.com. 60 IN TXT \""+txt.Value+"\"", "www.example.com. 60 IN CNAME elsewhere.example.net.")
	if d = h.verify(h.token, "web", "www.example.com"); d.Status != api.DomainPending || !strings.Contains(d.Reason, "points to elsewhere.example.net") {
		t.Fatalf("with a CNAME elsewhere: %+v", d)
	}
	z.remove("www.example.com", dns.TypeCNAME)
	if d = h.verify(h.token, "web", "www.example.com"); d.Status != api.DomainPending || !strings.Contains(d.Reason, "no CNAME") {
		t.Fatalf("without a CNAME: %+v", d)
	}
	if r := h.routeOf(edgeToken, "www.example.com"); r != nil {
		t.Fatalf("an unverified domain is routed: %+v", r)
	}

	z.set(t, "www.example.com. 60 IN CNAME web.apps.test.")
	if d = h.verify(h.token, "web", "www.example.com"); d.Status != api.DomainVerified || !d.Routed || d.Reason != "" {
		t.Fatalf("with both records: %+v", d)
	}
	own := h.routeOf(edgeToken, "web.apps.test")
	r := h.routeOf(edgeToken, "www.example.com")
	if own == nil || r == nil || r.Project != "web" || r.Deployment != own.Deployment || len(r.Backends) != len(own.Backends) || len(r.Backends) == 0 {
		t.Fatalf("domain route %+v, project route %+v", r, own)
	}
}

// TestDomainVerifiedByTheLoop: without "verify", the periodic check
// finds the records and routes the domain.
func TestDomainVerifiedByTheLoop(t *testing.T) {
	h, z := domainsHarness(t, time.Hour)
	var d api.Domain
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "app.example.org"}, &d); code != 201 {
		t.Fatalf("add: %d", code)
	}
	z.set(t, "_zeitwork-challenge.app.example.org. 60 IN TXT \""+record(d, "TXT").Value+"\"", "app.example.org. 60 IN CNAME web.apps.test.")
	h.eventually("verified by the loop", func() bool { return h.domain(h.token, "web", "app.example.org").Status == api.DomainVerified })
}

// TestDomainTakeoverRefused: a domain held by one project is refused to
// any other, of the same organisation or another, and the refusal does
// not say who holds it; the holder's route stays.
func TestDomainTakeoverRefused(t *testing.T) {
	h, _ := domainsHarness(t, time.Hour)
	for _, p := range []string{"web", "shop"} {
		if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: p}, nil); code != 201 {
			t.Fatalf("create project %s: %d", p, code)
		}
	}
	eve, err := operator.Bootstrap(context.Background(), h.store, "globex", "eve@globex.test")
	must(t, err)
	if code := h.call("POST", "/v1/projects", eve, api.CreateProjectRequest{Name: "evil"}, nil); code != 201 {
		t.Fatalf("create project evil: %d", code)
	}
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "www.example.com"}, nil); code != 201 {
		t.Fatalf("add: %d", code)
	}
	for _, c := range []struct{ token, project, name string }{
		{h.token, "shop", "www.example.com"}, {eve, "evil", "www.example.com"}, {eve, "evil", "WWW.EXAMPLE.COM."},
	} {
		var e api.Error
		code := h.call("POST", "/v1/projects/"+c.project+"/domains", c.token, api.AddDomainRequest{Name: c.name}, &e)
		if code != 409 || !strings.Contains(e.Error, "held by another project") || strings.Contains(e.Error+e.Hint, "acme") || strings.Contains(e.Error+e.Hint, "web") {
			t.Fatalf("%s adding %s: %d %+v", c.project, c.name, code, e)
		}
	}
	var e api.Error
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "www.example.com"}, &e); code != 409 || !strings.Contains(e.Error, "already a domain of project web") {
		t.Fatalf("adding it twice: %d %+v", code, e)
	}
	// Nor can another organisation see, verify or remove it.
	if code := h.call("DELETE", "/v1/projects/evil/domains/www.example.com", eve, nil, nil); code != 404 {
		t.Fatalf("removing another's domain: %d", code)
	}
	if code := h.call("POST", "/v1/projects/web/domains/www.example.com/verify", eve, nil, nil); code != 404 && code != 403 {
		t.Fatalf("verifying another organisation's domain: %d", code)
	}
	if d := h.domain(h.token, "web", "www.example.com"); d.Project != "web" {
		t.Fatalf("holder changed: %+v", d)
	}
	// Names of the installation itself are nobody's.
	for _, name := range []string{"apps.test", "evil.apps.test", "web.apps.test", "1.2.3.4", "localhost", "*.example.com"} {
		if code := h.call("POST", "/v1/projects/shop/domains", h.token, api.AddDomainRequest{Name: name}, &e); code != 400 || e.Hint == "" {
			t.Fatalf("adding %s: %d %+v", name, code, e)
		}
	}
}

// TestUnverifiedDomainReleased: a domain left unverified past the
// pending TTL is removed, and another organisation that owns it can then
// add it; a verified one is kept.
func TestUnverifiedDomainReleased(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	h, z := domainsHarness(t, time.Hour, func(c *operator.DomainConfig) { c.PendingTTL = ttl })
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "squat"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	var kept api.Domain
	h.call("POST", "/v1/projects/squat/domains", h.token, api.AddDomainRequest{Name: "kept.example.com"}, &kept)
	z.set(t, "_zeitwork-challenge.kept.example.com. 60 IN TXT \""+record(kept, "TXT").Value+"\"", "kept.example.com. 60 IN CNAME squat.apps.test.")
	if d := h.verify(h.token, "squat", "kept.example.com"); d.Status != api.DomainVerified {
		t.Fatalf("verify: %+v", d)
	}
	added := time.Now() // no later than the row's created_at
	if code := h.call("POST", "/v1/projects/squat/domains", h.token, api.AddDomainRequest{Name: "www.example.com"}, nil); code != 201 {
		t.Fatalf("add: %d", code)
	}
	if d := h.domain(h.token, "squat", "www.example.com"); d.Status == api.DomainPending && d.Reason != "" && !strings.Contains(d.Reason, "released at") {
		t.Fatalf("the reason does not say when it is released: %+v", d)
	}
	owner, err := operator.Bootstrap(context.Background(), h.store, "globex", "owner@globex.test")
	must(t, err)
	if code := h.call("POST", "/v1/projects", owner, api.CreateProjectRequest{Name: "site"}, nil); code != 201 {
		t.Fatalf("create project site: %d", code)
	}
	h.eventually("released", func() bool {
		code := h.call("POST", "/v1/projects/site/domains", owner, api.AddDomainRequest{Name: "www.example.com"}, nil)
		if code == 201 && time.Since(added) < ttl {
			t.Fatalf("released after %v, before the TTL of %v", time.Since(added), ttl)
		}
		return code == 201
	})
	if d := h.domain(h.token, "squat", "kept.example.com"); d.Status != api.DomainVerified {
		t.Fatalf("a verified domain: %+v", d)
	}
}

// TestDomainUnroutedAfterGrace: a verified domain whose CNAME is removed
// is marked failing and stays routed for the grace period, then is
// unrouted; putting the CNAME back and verifying routes it again.
func TestDomainUnroutedAfterGrace(t *testing.T) {
	const grace = 2 * time.Second
	h, z := domainsHarness(t, grace)
	h.healthyNode()
	h.liveDomainProject("web", h.token)
	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	must(t, err)
	var d api.Domain
	h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "www.example.com"}, &d)
	z.set(t, "_zeitwork-challenge.www.example.com. 60 IN TXT \""+record(d, "TXT").Value+"\"", "www.example.com. 60 IN CNAME web.apps.test.")
	if d = h.verify(h.token, "web", "www.example.com"); d.Status != api.DomainVerified {
		t.Fatalf("verify: %+v", d)
	}

	// The project moves away and its CNAME is left dangling elsewhere.
	z.set(t, "www.example.com. 60 IN CNAME someone-else.example.net.")
	removed := time.Now()
	h.eventually("marked failing", func() bool { d = h.domain(h.token, "web", "www.example.com"); return d.Status != api.DomainVerified })
	if d.Status != api.DomainFailing || !d.Routed || !strings.Contains(d.Reason, "unrouted at") || d.FailingSince == nil {
		t.Fatalf("within the grace period: %+v", d)
	}
	if time.Since(removed) < grace && h.routeOf(edgeToken, "www.example.com") == nil {
		t.Fatal("unrouted before the grace period ended")
	}
	h.eventually("unrouted", func() bool { d = h.domain(h.token, "web", "www.example.com"); return d.Status == api.DomainUnrouted })
	if d.Routed || !strings.Contains(d.Reason, "stopped pointing at us") {
		t.Fatalf("after the grace period: %+v", d)
	}
	if d.CheckedAt == nil || d.CheckedAt.Sub(*d.VerifiedAt) < grace {
		t.Fatalf("unrouted %v after it was last verified, before the grace period of %v", d.CheckedAt.Sub(*d.VerifiedAt), grace)
	}
	h.eventually("route gone", func() bool { return h.routeOf(edgeToken, "www.example.com") == nil })

	z.set(t, "www.example.com. 60 IN CNAME web.apps.test.")
	if d = h.verify(h.token, "web", "www.example.com"); d.Status != api.DomainVerified || h.routeOf(edgeToken, "www.example.com") == nil {
		t.Fatalf("fixed: %+v", d)
	}
}

// TestDomainRemovedAndRedirect, through a real edge fed by the operator:
// a redirect domain answers with its status and Location; removing a
// domain stops routing it at once.
func TestDomainRemovedAndRedirect(t *testing.T) {
	h, z := domainsHarness(t, time.Hour)
	h.healthyNode()
	h.liveDomainProject("web", h.token)
	edgeToken, err := operator.CreateEdgeToken(context.Background(), h.store, "edge")
	must(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := edge.New(edge.Config{Source: edge.NewOperatorSource(h.url, edgeToken, nil, log)}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	h.eventually("edge has its routes", e.Ready)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(host, path string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	var d api.Domain
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "example.net", RedirectTo: "www.example.net", RedirectStatus: 301}, &d); code != 400 {
		t.Fatalf("an apex without edge addresses: %d", code)
	}
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "old.example.net", RedirectTo: "www.example.net", RedirectStatus: 303}, nil); code != 400 {
		t.Fatalf("redirect status 303: %d", code)
	}
	for _, name := range []string{"old.example.net", "www.example.net"} {
		req := api.AddDomainRequest{Name: name}
		if name == "old.example.net" {
			req.RedirectTo, req.RedirectStatus = "www.example.net", 301
		}
		if code := h.call("POST", "/v1/projects/web/domains", h.token, req, &d); code != 201 {
			t.Fatalf("add %s: %d", name, code)
		}
		if get(name, "/").StatusCode != 404 {
			t.Fatalf("%s answered before it was verified", name)
		}
		z.set(t, "_zeitwork-challenge."+name+". 60 IN TXT \""+record(d, "TXT").Value+"\"", name+". 60 IN CNAME web.apps.test.")
		if d = h.verify(h.token, "web", name); d.Status != api.DomainVerified {
			t.Fatalf("verify %s: %+v", name, d)
		}
	}
	var resp *http.Response
	h.eventually("redirect served", func() bool { resp = get("old.example.net", "/a/b?c=d"); return resp.StatusCode != 404 })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "http://www.example.net/a/b?c=d" {
		t.Fatalf("redirect: %d %q (port %s)", resp.StatusCode, resp.Header.Get("Location"), port)
	}
	if resp = get("old.example.net:"+port, "/x"); resp.Header.Get("Location") != "http://www.example.net:"+port+"/x" {
		t.Fatalf("redirect with a port: %q", resp.Header.Get("Location"))
	}
	// www routes to the app: its backends are fake, so the edge reaches
	// the route and fails upstream (502), rather than knowing no route (404).
	h.eventually("www routed", func() bool { return get("www.example.net", "/").StatusCode != 404 })

	start := time.Now()
	if code := h.call("DELETE", "/v1/projects/web/domains/old.example.net", h.token, nil, nil); code != 204 {
		t.Fatalf("remove: %d", code)
	}
	h.eventually("removed domain unrouted", func() bool { return get("old.example.net", "/").StatusCode == 404 })
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the edge kept routing a removed domain for %v", took)
	}
	if h.routeOf(edgeToken, "old.example.net") != nil {
		t.Fatal("removed domain still in the route table")
	}
	if code := h.call("DELETE", "/v1/projects/web/domains/old.example.net", h.token, nil, nil); code != 404 {
		t.Fatalf("removing it twice: %d", code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestApexDomainAndEdgeHostname: with edge addresses configured, an apex
// domain is told to publish A/AAAA records and verifies only when every
// address it has is an edge's; a subdomain is told the configured CNAME
// target, and the project's own host is accepted too.
func TestApexDomainAndEdgeHostname(t *testing.T) {
	v4, v6 := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")
	h, z := domainsHarness(t, time.Hour, func(c *operator.DomainConfig) {
		c.EdgeAddrs, c.EdgeHostname = []netip.Addr{v4, v6}, "Edge.Example.NET."
	})
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	var apex, sub api.Domain
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "example.org"}, &apex); code != 201 {
		t.Fatalf("add apex: %d", code)
	}
	if a, aaaa := record(apex, "A"), record(apex, "AAAA"); a.Value != v4.String() || aaaa.Value != v6.String() || record(apex, "CNAME").Type != "" {
		t.Fatalf("apex records: %+v", apex.Records)
	}
	z.set(t, "_zeitwork-challenge.example.org. 60 IN TXT \""+record(apex, "TXT").Value+"\"",
		"example.org. 60 IN A 203.0.113.7", "example.org. 60 IN AAAA 2001:db8::7")
	z.mu.Lock()
	rr, _ := dns.NewRR("example.org. 60 IN A 198.51.100.1")
	z.records = append(z.records, rr)
	z.mu.Unlock()
	if d := h.verify(h.token, "web", "example.org"); d.Status != api.DomainPending || !strings.Contains(d.Reason, "198.51.100.1") {
		t.Fatalf("with a foreign address too: %+v", d)
	}
	z.set(t, "example.org. 60 IN A 203.0.113.7")
	if d := h.verify(h.token, "web", "example.org"); d.Status != api.DomainVerified {
		t.Fatalf("with the edges' addresses: %+v", d)
	}

	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "www.example.org"}, &sub); code != 201 {
		t.Fatalf("add www: %d", code)
	}
	if c := record(sub, "CNAME"); c.Value != "edge.example.net" {
		t.Fatalf("www records: %+v", sub.Records)
	}
	for _, target := range []string{"edge.example.net.", "web.apps.test."} {
		z.set(t, "_zeitwork-challenge.www.example.org. 60 IN TXT \""+record(sub, "TXT").Value+"\"", "www.example.org. 60 IN CNAME "+target)
		if d := h.verify(h.token, "web", "www.example.org"); d.Status != api.DomainVerified {
			t.Fatalf("CNAME to %s: %+v", target, d)
		}
	}
	if code := h.call("POST", "/v1/projects/web/domains", h.token, api.AddDomainRequest{Name: "x.edge.example.net"}, nil); code != 400 {
		t.Fatalf("a host under the CNAME target: %d", code)
	}
}
