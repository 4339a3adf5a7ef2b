package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// fastPair is two edges over the same instance: one with the fast path,
// one without, so that a request's answers can be compared.
type fastPair struct{ fast, plain *testEdge }

func startFastPair(t *testing.T, cfg Config, routes ...api.Route) fastPair {
	t.Helper()
	off := cfg
	off.DisableFastPath = true
	return fastPair{fast: startEdgeConfig(t, cfg, routes...), plain: startEdgeConfig(t, off, routes...)}
}

func fastRoutes(t *testing.T) []api.Route {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	return []api.Route{
		apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}),
		{Host: "old.localhost", Project: "hello", Redirect: "hello.localhost"},
		apiRoute("asleep.localhost", "d2", "live"),
	}
}

// rawResponse is what a client saw of one response.
type rawResponse struct {
	status int
	header http.Header
	body   string
	closed bool // the server closed the connection after it
}

// rawDo sends in on a new connection and reads n responses (to method).
func rawDo(t *testing.T, addr, in, method string, n int) []rawResponse {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, in); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []rawResponse
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%q: read response: %v", in, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%q: read body: %v", in, err)
		}
		out = append(out, rawResponse{status: resp.StatusCode, header: resp.Header, body: string(body), closed: resp.Close})
	}
	if len(out) > 0 && !out[len(out)-1].closed {
		return out
	}
	// A close must really close: the next read ends.
	if _, err := br.ReadByte(); err == nil {
		t.Fatalf("%q: the server said close and sent more", in)
	}
	return out
}

// TestFastPathServesAndHandsOff sends each request to an edge with the
// fast path and one without: the answers must be the same, and the fast
// path must serve the plain ones itself (counted) and hand every other
// one to net/http.
func TestFastPathServesAndHandsOff(t *testing.T) {
	cfg := Config{MaxHeaderBytes: 4096, MaxBodyBytes: 1000}
	p := startFastPair(t, cfg, fastRoutes(t)...)
	const host = "Host: hello.localhost\r\n"
	long := "X-Long: " + strings.Repeat("a", 5000) + "\r\n"  // past MaxHeaderBytes, within the fast buffer
	huge := "X-Huge: " + strings.Repeat("b", 10000) + "\r\n" // past the fast buffer
	cases := []struct {
		name, in, method string
		fast             bool
	}{
		{"get", "GET /x?q=1 HTTP/1.1\r\n" + host + "\r\n", "GET", true},
		{"head", "HEAD /x HTTP/1.1\r\n" + host + "\r\n", "HEAD", true},
		{"post", "POST /p HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello", "POST", true},
		{"put empty", "PUT /p HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n", "PUT", true},
		{"http/1.0", "GET /old HTTP/1.0\r\n" + host + "\r\n", "GET", true},
		{"http/1.0 stream", "GET /drip?n=2&every=1ms HTTP/1.0\r\n" + host + "\r\n", "GET", true},
		{"stream", "GET /drip?n=3&every=1ms HTTP/1.1\r\n" + host + "\r\n", "GET", true},
		{"close", "GET /c HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n", "GET", true},
		{"host case and port", "GET / HTTP/1.1\r\nHost: HELLO.localhost:80\r\n\r\n", "GET", true},
		{"header size", "GET / HTTP/1.1\r\n" + host + long + "\r\n", "GET", false},
		{"header past buffer", "GET / HTTP/1.1\r\n" + host + huge + "\r\n", "GET", false},
		{"body size", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000), "POST", false},
		{"unknown host", "GET / HTTP/1.1\r\nHost: nobody.localhost\r\n\r\n", "GET", false},
		{"redirect", "GET /r?x HTTP/1.1\r\nHost: old.localhost\r\n\r\n", "GET", false},
		{"no backends", "GET / HTTP/1.1\r\nHost: asleep.localhost\r\n\r\n", "GET", false},
		{"chunked", "POST /c HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST", false},
		{"cl and te", "POST /s HTTP/1.1\r\n" + host + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "POST", false},
		{"two cl", "POST /s HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", "POST", false},
		{"cl list", "POST /s HTTP/1.1\r\n" + host + "Content-Length: 2, 2\r\n\r\nab", "POST", false},
		{"cl sign", "POST /s HTTP/1.1\r\n" + host + "Content-Length: +2\r\n\r\nab", "POST", false},
		{"two hosts", "GET / HTTP/1.1\r\n" + host + host + "\r\n", "GET", false},
		{"no host", "GET / HTTP/1.1\r\n\r\n", "GET", false},
		{"space before colon", "GET / HTTP/1.1\r\nHost : hello.localhost\r\n\r\n", "GET", false},
		{"bare cr", "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", "GET", false},
		{"nul", "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", "GET", false},
		{"bare lf", "GET /lf HTTP/1.1\n" + "Host: hello.localhost\n\n", "GET", false},
		{"obs-fold", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n", "GET", false},
		{"expect", "POST /e HTTP/1.1\r\n" + host + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"upgrade", "GET / HTTP/1.1\r\n" + host + "Connection: upgrade\r\nUpgrade: h2c\r\n\r\n", "GET", false},
		{"absolute form", "GET http://hello.localhost/abs HTTP/1.1\r\n" + host + "\r\n", "GET", false},
		{"bad escape", "GET /%zz HTTP/1.1\r\n" + host + "\r\n", "GET", false},
		{"unknown method", "BREW /pot HTTP/1.1\r\n" + host + "\r\n", "BREW", false},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "GET", false},
		{"garbage", "hello\r\n\r\n", "GET", false},
		{"leading empty line", "\r\nGET /e HTTP/1.1\r\n" + host + "\r\n", "GET", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := p.fast.Stats()
			got := rawDo(t, p.fast.addr, tc.in, tc.method, 1)[0]
			after := p.fast.Stats()
			want := rawDo(t, p.plain.addr, tc.in, tc.method, 1)[0]
			served, handed := after.FastRequests-before.FastRequests, after.FastHandoffs-before.FastHandoffs
			if tc.fast && (served != 1 || handed != 0) || !tc.fast && (served != 0 || handed != 1) {
				t.Errorf("fast path served %d, handed off %d; want served %v", served, handed, tc.fast)
			}
			if got.status != want.status || got.body != want.body || got.closed != want.closed {
				t.Errorf("fast path: %d %q (close %v); net/http: %d %q (close %v)",
					got.status, got.body, got.closed, want.status, want.body, want.closed)
			}
			for _, k := range []string{"Content-Type", "Location", "Retry-After", "X-App", "Content-Length", "Transfer-Encoding"} {
				if g, w := got.header.Get(k), want.header.Get(k); g != w {
					t.Errorf("%s: fast path %q, net/http %q", k, g, w)
				}
			}
			if tc.fast && (got.header.Get("X-Request-Id") == "" || got.header.Get("Date") == "") {
				t.Errorf("response lacks X-Request-Id or Date: %v", got.header)
			}
		})
	}
	if s := p.plain.Stats(); s.FastRequests != 0 || s.FastHandoffs != 0 {
		t.Errorf("an edge without the fast path counted %d fast requests, %d hand-offs", s.FastRequests, s.FastHandoffs)
	}
}

// TestFastPathKeepAlive: pipelined requests on one connection are all
// answered, in order, by the fast path; HTTP/1.0 keep-alive is honoured.
func TestFastPathKeepAlive(t *testing.T) {
	p := startFastPair(t, Config{}, fastRoutes(t)...)
	const host = "Host: hello.localhost\r\n"
	in := "GET /1 HTTP/1.1\r\n" + host + "\r\n" +
		"POST /2 HTTP/1.1\r\n" + host + "Content-Length: 3\r\n\r\nabc" +
		"GET /3 HTTP/1.0\r\n" + host + "Connection: keep-alive\r\n\r\n" +
		"GET /4 HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n"
	got := rawDo(t, p.fast.addr, in, "GET", 4)
	want := []string{"a GET /1 ", "a POST /2 abc", "a GET /3 ", "a GET /4 "}
	for i, r := range got {
		if r.status != http.StatusOK || r.body != want[i] {
			t.Errorf("response %d: %d %q, want 200 %q", i+1, r.status, r.body, want[i])
		}
	}
	if got[2].header.Get("Connection") != "keep-alive" || !got[3].closed {
		t.Errorf("HTTP/1.0 keep-alive %q, last closed %v", got[2].header.Get("Connection"), got[3].closed)
	}
	if s := p.fast.Stats(); s.FastRequests != 4 || s.FastHandoffs != 0 {
		t.Errorf("fast path served %d and handed off %d; want 4 and 0", s.FastRequests, s.FastHandoffs)
	}
	// A hand-off after served requests keeps the connection's order.
	in = "GET /5 HTTP/1.1\r\n" + host + "\r\n" + "GET /6 HTTP/1.1\r\nHost: nobody.localhost\r\n\r\n"
	got = rawDo(t, p.fast.addr, in, "GET", 2)
	if got[0].status != http.StatusOK || got[1].status != http.StatusNotFound {
		t.Errorf("served then handed off: %d, %d; want 200, 404", got[0].status, got[1].status)
	}
}

// TestFastPathRateLimit: the fast path refuses over a project's limit
// itself, with 429 and Retry-After, as net/http's path does.
func TestFastPathRateLimit(t *testing.T) {
	routes := fastRoutes(t)
	routes[0].Limits = &api.RateLimits{Client: api.RateLimit{Rate: 0.1, Burst: 1}}
	p := startFastPair(t, Config{}, routes...)
	in := "GET / HTTP/1.1\r\nHost: hello.localhost\r\n\r\n"
	for _, te := range []*testEdge{p.fast, p.plain} {
		got := rawDo(t, te.addr, in+in, "GET", 2)
		if got[0].status != http.StatusOK || got[1].status != http.StatusTooManyRequests || got[1].header.Get("Retry-After") == "" {
			t.Errorf("got %d, %d (Retry-After %q); want 200, 429 with Retry-After",
				got[0].status, got[1].status, got[1].header.Get("Retry-After"))
		}
	}
	if s := p.fast.Stats(); s.FastRequests != 2 || s.Refused["client_rate"] != 1 {
		t.Errorf("fast path served %d, refused %d; want 2 and 1", s.FastRequests, s.Refused["client_rate"])
	}
}

// flakyListener fails its first Accept with a temporary error, as a
// listener does when the process is out of file descriptors.
type flakyListener struct {
	net.Listener
	failed bool
}

type tempErr struct{}

func (tempErr) Error() string   { return "too many open files" }
func (tempErr) Timeout() bool   { return false }
func (tempErr) Temporary() bool { return true }

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

// TestFastPathAcceptsAfterTemporaryError: as with net/http alone, a
// temporary accept error does not stop the server.
func TestFastPathAcceptsAfterTemporaryError(t *testing.T) {
	routes := fastRoutes(t)
	te := startEdge(t, routes...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := te.NewServer("")
	srv.ErrorLog = nil
	go te.Serve(srv, te.Listener(&flakyListener{Listener: ln}))
	t.Cleanup(func() { srv.Close() })
	got := rawDo(t, ln.Addr().String(), "GET /t HTTP/1.1\r\nHost: hello.localhost\r\n\r\n", "GET", 1)
	if got[0].status != http.StatusOK {
		t.Fatalf("after a temporary accept error: %d, want 200", got[0].status)
	}
}

// TestFastPathPipelinedDuringWatch: a request sent while the previous one
// still waits (so that the watch for a departed client reads it) is
// answered after it, in order.
func TestFastPathPipelinedDuringWatch(t *testing.T) {
	te := startEdge(t, fastRoutes(t)...)
	c, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /drip?n=2&every=300ms HTTP/1.1\r\nHost: hello.localhost\r\n\r\n")
	// Past fastWatchAfter, so that the watch is reading when the next
	// request comes; the outcome is the same if it is not.
	time.Sleep(100 * time.Millisecond)
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: hello.localhost\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"data: 0\n\ndata: 1\n\n", "a GET /next "} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != want {
			t.Fatalf("got %q (%v), want %q", body, err, want)
		}
	}
	if s := te.Stats(); s.FastRequests != 2 || s.Responses[4] != 0 {
		t.Fatalf("fast requests %d, 4xx %d; want 2 and 0 (the watch must not take the next request for a departure)", s.FastRequests, s.Responses[4])
	}
}

// TestFastPathCloseEndsIdleConns: closing the server closes the fast
// path's idle connections at once, as net/http closes its own.
func TestFastPathCloseEndsIdleConns(t *testing.T) {
	te := startEdge(t, fastRoutes(t)...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := te.NewServer("")
	done := make(chan error, 1)
	go func() { done <- te.Serve(srv, te.Listener(ln)) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: hello.localhost\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != http.ErrServerClosed {
		t.Fatalf("Serve returned %v, want http.ErrServerClosed", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection after Close: read %v, want EOF", err)
	}
}

// TestFastPathUnaskedSwitch: an app that switches protocols on a request
// that did not ask for it takes the connection over through the fast
// path's writer (Hijack), as through net/http's.
func TestFastPathUnaskedSwitch(t *testing.T) {
	app := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString(line)
		brw.Flush()
	}))
	node := startNode(t, map[string]string{"i-s": app})
	p := startFastPair(t, Config{}, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-s", NodeAddr: node}))
	for _, te := range []*testEdge{p.fast, p.plain} {
		c, err := net.Dial("tcp", te.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: hello.localhost\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("got %v, %v; want 101", resp, err)
		}
		io.WriteString(c, "ping\n")
		if line, err := br.ReadString('\n'); line != "ping\n" {
			t.Fatalf("after the switch: %q, %v; want the echo", line, err)
		}
		c.Close()
	}
	if s := p.fast.Stats(); s.FastRequests != 1 {
		t.Fatalf("fast path served %d requests, want 1", s.FastRequests)
	}
}
