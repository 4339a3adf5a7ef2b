package edge

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// clientFrom returns an HTTP client whose connections come from the
// loopback address local (127.0.0.0/8 is all loopback on Linux), so that
// a test can be several clients.
func clientFrom(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// getAs sends GET host/path through the edge with client c and extra
// headers, and returns the status and Retry-After.
func (te *testEdge) getAs(t *testing.T, c *http.Client, host string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+te.addr+"/", nil)
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func limitedRoutes(t *testing.T, lim api.RateLimits) []api.Route {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	be := api.Backend{Instance: "i-a", NodeAddr: node}
	live := apiRoute("hello.localhost", "d", "live", be)
	versioned := apiRoute("d--hello.localhost", "d", "live", be)
	live.Limits, versioned.Limits = &lim, &lim
	return []api.Route{live, versioned}
}

// A client over its per-client limit gets 429 with Retry-After, whatever
// X-Forwarded-For or X-Real-IP it claims; another client is served.
func TestRateLimitPerClient(t *testing.T) {
	te := startEdge(t, limitedRoutes(t, api.RateLimits{Client: api.RateLimit{Rate: 0.1, Burst: 3}})...)
	one := clientFrom(t, "127.0.0.1")
	for i := range 3 {
		if code, _ := te.getAs(t, one, "hello.localhost", nil); code != 200 {
			t.Fatalf("request %d within the burst: %d", i, code)
		}
	}
	for i, spoof := range []string{"198.51.100.1", "198.51.100.2, 127.0.0.1", "127.0.0.2"} {
		code, retry := te.getAs(t, one, "hello.localhost", map[string]string{"X-Forwarded-For": spoof, "X-Real-IP": spoof})
		if code != http.StatusTooManyRequests {
			t.Fatalf("over the limit with X-Forwarded-For %q: %d, want 429", spoof, code)
		}
		// 0.1 requests a second: the next token is some 10 s away.
		if n, err := strconv.Atoi(retry); err != nil || n < 9 || n > 10 {
			t.Fatalf("request %d: Retry-After %q, want 10", i, retry)
		}
	}
	// The versioned URL is the same project: the same client bucket.
	if code, _ := te.getAs(t, one, "d--hello.localhost", nil); code != http.StatusTooManyRequests {
		t.Fatalf("versioned host escaped the client limit: %d", code)
	}
	if code, _ := te.getAs(t, clientFrom(t, "127.0.0.2"), "hello.localhost", nil); code != 200 {
		t.Fatalf("another client address: %d, want 200", code)
	}
	if n := te.Stats().Refused["client_rate"]; n != 4 {
		t.Fatalf("client_rate refusals %d, want 4", n)
	}
}

// The project limit is shared by all its clients and hosts.
func TestRateLimitPerProject(t *testing.T) {
	te := startEdge(t, limitedRoutes(t, api.RateLimits{Project: api.RateLimit{Rate: 0.1, Burst: 2}})...)
	if code, _ := te.getAs(t, clientFrom(t, "127.0.0.1"), "hello.localhost", nil); code != 200 {
		t.Fatalf("first request: %d", code)
	}
	if code, _ := te.getAs(t, clientFrom(t, "127.0.0.2"), "d--hello.localhost", nil); code != 200 {
		t.Fatalf("second request: %d", code)
	}
	code, retry := te.getAs(t, clientFrom(t, "127.0.0.3"), "hello.localhost", nil)
	if code != http.StatusTooManyRequests || retry == "" {
		t.Fatalf("third client over the project's limit: %d, Retry-After %q; want 429 with Retry-After", code, retry)
	}
	if n := te.Stats().Refused["project_rate"]; n != 1 {
		t.Fatalf("project_rate refusals %d, want 1", n)
	}
	// A raised limit, delivered with the route table, applies at once.
	routes := limitedRoutes(t, api.RateLimits{Project: api.RateLimit{Rate: 100, Burst: 100}})
	te.src.Set(routeTable(2, routes...))
	waitFor(t, func() bool { return te.table.Load().version == 2 })
	if code, _ := te.getAs(t, clientFrom(t, "127.0.0.3"), "hello.localhost", nil); code != 200 {
		t.Fatalf("after raising the limit: %d", code)
	}
}

// The per-client buckets stay within their cap however many addresses
// come; IPv6 clients are keyed by their /64.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(100)
	lim := &api.RateLimits{Client: api.RateLimit{Rate: 1, Burst: 1}}
	now := time.Unix(1000, 0)
	for i := range 10000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.allow("p", a, lim, now)
	}
	if n := l.size(); n != 100 {
		t.Fatalf("%d client buckets kept, want the cap 100", n)
	}
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:1")
	if _, ok := l.allow("p", v6a, lim, now); !ok {
		t.Fatal("first request from a /64 refused")
	}
	if _, ok := l.allow("p", v6b, lim, now); ok {
		t.Fatal("another address in the same /64 escaped its limit")
	}
	l.reap(now.Add(time.Hour))
	if n := l.size(); n != 0 {
		t.Fatalf("%d refilled buckets left after reap, want 0", n)
	}
}
