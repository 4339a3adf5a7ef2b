package edge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/zeitwork/zeitwork/internal/api"
)

func TestRoutesByHost(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	node := startNode(t, map[string]string{"i-a": a.addr, "i-b": b.addr})
	te := startEdge(t,
		apiRoute("ab12cd34--hello.localhost", "ab12cd34", "live", api.Backend{Instance: "i-a", NodeAddr: node}),
		apiRoute("hello.localhost", "hello-ef34gh", "live", api.Backend{Instance: "i-b", NodeAddr: node}),
	)
	tests := []struct{ name, host, want string }{
		{"versioned", "ab12cd34--hello.localhost", "a GET /x "},
		{"project", "hello.localhost", "b GET /x "},
		{"port and case", "Hello.LocalHost:8080", "b GET /x "},
		{"trailing dot", "ab12cd34--hello.localhost.", "a GET /x "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := te.get(t, tt.host, "/x")
			if resp.StatusCode != 200 || body != tt.want {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, tt.want)
			}
		})
	}
}

func TestErrorPages(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t,
		apiRoute("building.localhost", "hello-ab12cd", "building"),
		apiRoute("failed.localhost", "hello-ef34gh", "failed"),
		apiRoute("gone.localhost", "hello-gone", "live",
			api.Backend{Instance: "not-on-node", NodeAddr: node},
			api.Backend{Instance: "i-a", NodeAddr: deadAddr(t)}),
	)
	tests := []struct {
		name, host string
		code       int
		body       string
	}{
		{"unknown host", "nope.localhost", 404, "no app is deployed at nope.localhost\n"},
		{"building", "building.localhost", 503, "deployment hello-ab12cd is building: no healthy instance yet\n"},
		{"failed", "failed.localhost", 503, "deployment hello-ef34gh failed: it has no healthy instance\n"},
		{"unreachable", "gone.localhost", 502, "deployment hello-gone: no instance answered ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := te.get(t, tt.host, "/")
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tt.code, body)
			}
			wantPrefix(t, body, tt.body)
			if tt.code == 503 && resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}
	if s := te.Stats(); s.Responses[4] != 1 || s.Responses[5] != 3 || s.NoRoute != 1 || s.UpstreamErrors != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRoundRobin(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	node := startNode(t, map[string]string{"i-a": a.addr, "i-b": b.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live",
		api.Backend{Instance: "i-a", NodeAddr: node}, api.Backend{Instance: "i-b", NodeAddr: node}))
	seen := map[string]int{}
	for range 10 {
		resp, _ := te.get(t, "hello.localhost", "/")
		seen[resp.Header.Get("X-App")]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("distribution %v, want 5 and 5", seen)
	}
}

func TestRetryIdempotentOnly(t *testing.T) {
	a := startApp(t, "a")
	// "dead" is known to the node but its VM does not listen: the tunnel
	// accepts, then closes without a response, after the request was sent.
	node := startNode(t, map[string]string{"i-a": a.addr, "dead": deadAddr(t)})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live",
		api.Backend{Instance: "dead", NodeAddr: node}, api.Backend{Instance: "i-a", NodeAddr: node}))
	for range 4 {
		if resp, body := te.get(t, "hello.localhost", "/"); resp.StatusCode != 200 {
			t.Fatalf("GET: %d %q, want a retry on the live instance", resp.StatusCode, body)
		}
	}
	codes := map[int]int{}
	for range 2 {
		resp, _ := te.do(t, http.MethodPost, "hello.localhost", "/", strings.NewReader("x"))
		codes[resp.StatusCode]++
	}
	if codes[200] != 1 || codes[502] != 1 || a.posts.Load() != 1 {
		t.Fatalf("POST codes %v, posts seen %d: a POST must not be retried after it was sent", codes, a.posts.Load())
	}
}

func TestRetryAnyMethodWhenDialFails(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live",
		api.Backend{Instance: "i-a", NodeAddr: deadAddr(t)}, api.Backend{Instance: "i-a", NodeAddr: node}))
	for range 2 {
		resp, body := te.do(t, http.MethodPost, "hello.localhost", "/", strings.NewReader("x"))
		if resp.StatusCode != 200 {
			t.Fatalf("POST %d %q: a failed dial sent nothing and must be retried", resp.StatusCode, body)
		}
	}
}

func TestRequestBodies(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	big := strings.Repeat("z", 200<<10)
	_, body := te.do(t, http.MethodPost, "hello.localhost", "/p", strings.NewReader(big))
	if body != "a POST /p "+big {
		t.Fatalf("sized body: got %d bytes", len(body))
	}
	// An io.Reader of unknown length goes out chunked.
	_, body = te.do(t, http.MethodPut, "hello.localhost", "/p", io.MultiReader(strings.NewReader("chunk1-"), strings.NewReader("chunk2")))
	if body != "a PUT /p chunk1-chunk2" {
		t.Fatalf("chunked body: got %q", body)
	}
}

func TestForwardedHeaders(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	req, _ := http.NewRequest("GET", "http://"+te.addr+"/headers", nil)
	req.Host = "Hello.localhost:8080"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Real-IP", "203.0.113.8")
	req.Header.Set("Forwarded", "for=203.0.113.9")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "secret")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("X-Kept", "yes")
	resp, err := te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h http.Header
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		// What the client claims is dropped: the edge names the client.
		"X-Forwarded-For":   "127.0.0.1",
		"X-Real-Ip":         "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "Hello.localhost:8080",
		"Forwarded":         `for=127.0.0.1;host="Hello.localhost:8080";proto=http`,
		"Host":              "Hello.localhost:8080",
		"X-Kept":            "yes",
		"X-Hop":             "",
		"Keep-Alive":        "",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestWebSocketEcho(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	cfg, err := websocket.NewConfig("ws://hello.localhost/ws", "http://hello.localhost/")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		t.Fatalf("handshake through the edge: %v", err)
	}
	defer ws.Close()
	for _, msg := range []string{"ping", strings.Repeat("x", 100<<10)} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil {
			t.Fatal(err)
		}
		if got != msg {
			t.Fatalf("echo of %d bytes came back as %d", len(msg), len(got))
		}
	}
}

func TestServerSentEventsStream(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	req, _ := http.NewRequest("GET", "http://"+te.addr+"/sse", nil)
	req.Host = "hello.localhost"
	resp, err := te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// The app sends event i+1 only after the test read event i, so this
	// deadlocks (and times out) unless each event is flushed through.
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := "data: " + string(rune('0'+i)) + "\n"; line != want {
			t.Fatalf("got %q, want %q", line, want)
		}
		br.ReadString('\n')
		a.sse <- struct{}{}
	}
}

func TestRouteUpdateTakesEffect(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	node := startNode(t, map[string]string{"i-a": a.addr, "i-b": b.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d1", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	if _, body := te.get(t, "hello.localhost", "/"); body != "a GET / " {
		t.Fatalf("before: %q", body)
	}
	te.src.Set(routeTable(2,
		apiRoute("hello.localhost", "d2", "live", api.Backend{Instance: "i-b", NodeAddr: node}),
		apiRoute("new.localhost", "d3", "live", api.Backend{Instance: "i-a", NodeAddr: node})))
	deadline := time.Now().Add(time.Second)
	for {
		_, body := te.get(t, "hello.localhost", "/")
		if body == "b GET / " {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("route change not in effect after 1s: %q", body)
		}
	}
	if _, body := te.get(t, "new.localhost", "/"); body != "a GET / " {
		t.Fatalf("new host: %q", body)
	}
}

func TestClosedKeepAliveConnection(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	if resp, _ := te.get(t, "hello.localhost", "/"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	// Close the app's side of the pooled connection, as an app with a short
	// keep-alive timeout does, and wait until the edge's socket sees it.
	be := te.backends[backendKey{instance: "i-a", nodeAddr: node}]
	be.mu.Lock()
	pooled := be.idle[len(be.idle)-1]
	be.mu.Unlock()
	// The app's server marks a connection idle (closable) only a moment
	// after it wrote the response, so close until the close lands.
	waitFor(t, func() bool { closeAppConns(t, a); return !alive(pooled) })
	// A POST cannot be retried once sent, so the edge must notice the dead
	// connection before using it; a GET may find out and retry.
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		resp, body := te.do(t, method, "hello.localhost", "/", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s over a closed kept-alive connection: %d %q", method, resp.StatusCode, body)
		}
		closeAppConns(t, a)
	}
}

// TestLaterRouteCannotStealHost: a table that names one host twice (the
// operator never sends one; a bug or a sloppy table could) keeps serving
// the first route, the host's owner, whatever the later ones say.
func TestLaterRouteCannotStealHost(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	node := startNode(t, map[string]string{"i-a": a.addr, "i-b": b.addr})
	te := startEdge(t,
		apiRoute("hello.localhost", "owner", "live", api.Backend{Instance: "i-a", NodeAddr: node}),
		apiRoute("hello.localhost", "thief", "live", api.Backend{Instance: "i-b", NodeAddr: node}),
		apiRoute("Hello.LOCALHOST.", "thief", "live", api.Backend{Instance: "i-b", NodeAddr: node}),
	)
	for range 4 {
		if resp, body := te.get(t, "hello.localhost", "/x"); resp.StatusCode != 200 || body != "a GET /x " {
			t.Fatalf("got %d %q, want the owner's app", resp.StatusCode, body)
		}
	}
}

// A header that spells a framing or routing header with underscores is not
// forwarded: CGI-style gateways read Content_Length as Content-Length, so
// the app would see a body the edge does not, on a shared upstream
// connection. Other underscored names pass. Both the fast path and
// net/http's (a chunked body is handed off) forward the same.
func TestUnderscoreFramingDropped(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	for _, body := range []string{
		"Content-Length: 0\r\n\r\n",                   // the fast path
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", // handed to net/http
	} {
		conn, err := net.Dial("tcp", te.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /headers HTTP/1.1\r\nHost: hello.localhost\r\nContent_Length: 40\r\n"+
			"transfer_encoding: chunked\r\nX_HOST: evil.example\r\nX_Api_Key: k\r\nConnection: close\r\n%s", body)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		var h http.Header
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		for k := range h {
			switch strings.ToLower(k) {
			case "content_length", "transfer_encoding":
				t.Errorf("%q forwarded: %q", k, h[k])
			}
		}
		if h.Get("X_host") != "evil.example" || h.Get("X_api_key") != "k" {
			t.Errorf("other underscored names not forwarded: %v", h)
		}
	}
}
