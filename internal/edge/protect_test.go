package edge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/zeitwork/zeitwork/internal/api"
)

func helloRoutes(t *testing.T) []api.Route {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	return []api.Route{apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node})}
}

// dialFrom opens a TCP connection to addr from the loopback address local.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawGet writes a GET for host/path on c (after prefix, e.g. a PROXY
// header) and reads the response.
func rawGet(t *testing.T, c net.Conn, br *bufio.Reader, prefix []byte, path string) (*http.Response, string, error) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := append(prefix, "GET "+path+" HTTP/1.1\r\nHost: hello.localhost\r\n\r\n"...)
	if _, err := c.Write(req); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func proxyHeader(t *testing.T, version byte, client string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(client)),
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80})
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A trusted load balancer's PROXY header (v1 and v2) names the client the
// app sees and the rate limit counts; the client's own X-Forwarded-For
// is not passed on.
func TestProxyProtocolFromTrustedPeer(t *testing.T) {
	routes := helloRoutes(t)
	lim := api.RateLimits{Client: api.RateLimit{Rate: 0.1, Burst: 1}}
	routes[0].Limits = &lim
	te := startEdgeConfig(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.5/32")}}, routes...)
	for _, tc := range []struct {
		version byte
		client  string
	}{{1, "198.51.100.7:5555"}, {2, "198.51.100.8:5555"}, {2, "[2001:db8::7]:5555"}} {
		c := dialFrom(t, "127.0.0.5", te.addr)
		resp, body, err := rawGet(t, c, bufio.NewReader(c), proxyHeader(t, tc.version, tc.client), "/headers")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("v%d: %v %v", tc.version, resp, err)
		}
		var h http.Header
		json.Unmarshal([]byte(body), &h)
		want := netip.MustParseAddrPort(tc.client).Addr().String()
		if got := h.Get("X-Forwarded-For"); got != want || h.Get("X-Real-Ip") != want {
			t.Fatalf("v%d: app saw X-Forwarded-For %q X-Real-IP %q, want %s", tc.version, got, h.Get("X-Real-Ip"), want)
		}
		// Each client has its own bucket of one: its second request is
		// refused, though the load balancer's address is the same.
		c2 := dialFrom(t, "127.0.0.5", te.addr)
		if resp, _, err := rawGet(t, c2, bufio.NewReader(c2), proxyHeader(t, tc.version, tc.client), "/"); err != nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("v%d: second request of %s: %v %v, want 429", tc.version, tc.client, resp, err)
		}
	}
	// The trusted peer must send the header: without one it is refused.
	c := dialFrom(t, "127.0.0.5", te.addr)
	if resp, _, err := rawGet(t, c, bufio.NewReader(c), nil, "/"); err == nil {
		t.Fatalf("trusted peer without a PROXY header: %s, want the connection closed", resp.Status)
	}
	waitFor(t, func() bool { return te.Stats().Refused["proxy_header"] == 1 })
}

// A PROXY header from a peer that is not trusted is refused, so no client
// can pick its own address; its plain requests are served as its own.
func TestProxyProtocolFromUntrustedPeer(t *testing.T) {
	te := startEdgeConfig(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.5/32")}}, helloRoutes(t)...)
	for _, v := range []byte{1, 2} {
		c := dialFrom(t, "127.0.0.6", te.addr)
		if resp, _, err := rawGet(t, c, bufio.NewReader(c), proxyHeader(t, v, "198.51.100.7:5555"), "/"); err == nil {
			t.Fatalf("v%d header from an untrusted peer: %s, want the connection closed", v, resp.Status)
		}
	}
	waitFor(t, func() bool { return te.Stats().Refused["proxy_header"] == 2 })
	c := dialFrom(t, "127.0.0.6", te.addr)
	resp, body, err := rawGet(t, c, bufio.NewReader(c), nil, "/headers")
	if err != nil || resp.StatusCode != 200 || !strings.Contains(body, `"X-Forwarded-For":["127.0.0.6"]`) {
		t.Fatalf("plain request from an untrusted peer: %v %v %s", resp, err, body)
	}
}

// Connections past the per-client cap get 429 and past the total cap 503,
// each closed after its answer.
func TestConnectionCaps(t *testing.T) {
	te := startEdgeConfig(t, Config{MaxConnsPerClient: 2, MaxConns: 3}, helloRoutes(t)...)
	open := func(local string) (net.Conn, *bufio.Reader) {
		c := dialFrom(t, local, te.addr)
		return c, bufio.NewReader(c)
	}
	for range 2 {
		c, br := open("127.0.0.1")
		if resp, _, err := rawGet(t, c, br, nil, "/"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("within the cap: %v %v", resp, err)
		}
	}
	c, br := open("127.0.0.1")
	resp, _, err := rawGet(t, c, br, nil, "/")
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || !resp.Close {
		t.Fatalf("third connection of a client: %v %v, want 429 and close", resp, err)
	}
	waitFor(t, func() bool { return te.conns.total.Load() == 2 })
	c, br = open("127.0.0.2")
	if resp, _, err := rawGet(t, c, br, nil, "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("another client within the total cap: %v %v", resp, err)
	}
	c, br = open("127.0.0.3")
	resp, _, err = rawGet(t, c, br, nil, "/")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the total cap: %v %v, want 503 with Retry-After", resp, err)
	}
	s := te.Stats()
	if s.Refused["client_conns"] != 1 || s.Refused["conns"] != 1 {
		t.Fatalf("refusals %v, want one client_conns and one conns", s.Refused)
	}
}

// Oversized headers get 431 and oversized bodies 413, with or without a
// declared length.
func TestSizeLimits(t *testing.T) {
	te := startEdgeConfig(t, Config{MaxHeaderBytes: 2048, MaxBodyBytes: 1000}, helloRoutes(t)...)
	req, _ := http.NewRequest("GET", "http://"+te.addr+"/", nil)
	req.Host = "hello.localhost"
	req.Header.Set("X-Big", strings.Repeat("a", 3000))
	resp, err := te.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("3000-byte header: %v %v, want 431", resp, err)
	}
	resp.Body.Close()
	if resp, _ := te.do(t, "POST", "hello.localhost", "/", strings.NewReader(strings.Repeat("b", 1000))); resp.StatusCode != 200 {
		t.Fatalf("body at the limit: %d", resp.StatusCode)
	}
	if resp, _ := te.do(t, "POST", "hello.localhost", "/", strings.NewReader(strings.Repeat("b", 1001))); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("body with Content-Length past the limit: %d, want 413", resp.StatusCode)
	}
	chunked := io.MultiReader(strings.NewReader(strings.Repeat("c", 600)), strings.NewReader(strings.Repeat("c", 600)))
	if resp, _ := te.do(t, "POST", "hello.localhost", "/", chunked); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked body past the limit: %d, want 413", resp.StatusCode)
	}
	s := te.Stats()
	if s.Refused["header_size"] != 1 || s.Refused["body_size"] != 2 {
		t.Fatalf("refusals %v, want one header_size and two body_size", s.Refused)
	}
}

// A slowloris connection, sending its headers a byte at a time, is closed
// after ReadHeaderTimeout; an idle kept-alive one after IdleTimeout; but a
// response streamed for several times both, with pauses longer than
// either, arrives whole.
func TestSlowClientsClosedStreamsKept(t *testing.T) {
	const timeout = 300 * time.Millisecond
	te := startEdgeConfig(t, Config{ReadHeaderTimeout: timeout, IdleTimeout: timeout}, helloRoutes(t)...)

	stream := make(chan error, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://"+te.addr+"/drip?n=5&every=400ms", nil)
		req.Host = "hello.localhost"
		resp, err := te.client.Do(req)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && strings.Count(string(b), "data: ") != 5 {
				err = fmt.Errorf("stream cut: got %q", b)
			}
		}
		if err == nil && time.Since(start) < 4*timeout {
			err = fmt.Errorf("stream took %v, not longer than the timeouts", time.Since(start))
		}
		stream <- err
	}()

	slow := dialFrom(t, "127.0.0.1", te.addr)
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// A byte every 20 ms: never idle, never done.
		head := "GET / HTTP/1.1\r\nHost: hello.localhost\r\nX-Slow: " + strings.Repeat("z", 1000)
		for i := 0; i < len(head); i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := slow.Write([]byte{head[i]}); err != nil {
				return
			}
		}
	}()
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	// net/http closes it, at most answering 400 to the torn request.
	if b, err := io.ReadAll(slow); err != nil || (len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 400 ")) {
		t.Fatalf("slowloris connection: %q %v, want it closed by the edge", b, err)
	}
	if d := time.Since(start); d > 3*timeout {
		t.Fatalf("slowloris closed only after %v", d)
	}

	idle := dialFrom(t, "127.0.0.1", te.addr)
	br := bufio.NewReader(idle)
	if resp, _, err := rawGet(t, idle, br, nil, "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("request before idling: %v %v", resp, err)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF from the edge closing it", err)
	}
	if err := <-stream; err != nil {
		t.Fatal(err)
	}
	if n := te.Stats().Refused["slow_header"]; n != 1 {
		t.Fatalf("slow_header %d, want 1 (the slowloris, not the idle connection)", n)
	}
}
