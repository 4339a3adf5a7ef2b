package edge

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// headerWrapper adds a response header and passes every request on, as
// edgetls's HSTS handler does.
type headerWrapper struct{ next http.Handler }

func (h headerWrapper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Strict-Transport-Security", "max-age=60")
	h.next.ServeHTTP(w, r)
}

func (h headerWrapper) WrapsEdge() http.Handler { return h.next }

// serveEdgeTLS serves te over TLS (h2 and HTTP/1.1, as edgetls does)
// through headerWrapper, and returns its address and the client side's
// TLS settings.
func serveEdgeTLS(t *testing.T, te *testEdge) (string, *tls.Config) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil) // for its certificate
	ts.StartTLS()
	t.Cleanup(ts.Close)
	client := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := te.NewServer("")
	srv.Handler = headerWrapper{srv.Handler}
	conf := &tls.Config{Certificates: ts.TLS.Certificates, NextProtos: []string{"h2", "http/1.1"}}
	go te.Serve(srv, tls.NewListener(te.Listener(ln), conf))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), client
}

// TestFastPathTLS: an HTTP/1.1 request over TLS is served by the fast
// path through the server's wrapper; one it hands off, and an HTTP/2
// connection, are served by net/http; all three are forwarded as HTTPS.
func TestFastPathTLS(t *testing.T) {
	te := startEdge(t, fastRoutes(t)...)
	addr, client := serveEdgeTLS(t, te)

	// forwardedProto sends in over TLS with ALPN http/1.1 and returns the
	// app's X-Forwarded-Proto and the wrapper's header.
	forwardedProto := func(in string) (string, string) {
		conf := client.Clone()
		conf.NextProtos = []string{"http/1.1"}
		c, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, in)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		var h http.Header
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatalf("%q: %d: %v", in, resp.StatusCode, err)
		}
		return h.Get("X-Forwarded-Proto"), resp.Header.Get("Strict-Transport-Security")
	}

	proto, hsts := forwardedProto("GET /headers HTTP/1.1\r\nHost: hello.localhost\r\n\r\n")
	if s := te.Stats(); s.FastRequests != 1 || s.FastHandoffs != 0 {
		t.Fatalf("fast path served %d, handed off %d; want 1 and 0", s.FastRequests, s.FastHandoffs)
	}
	if proto != "https" || hsts == "" {
		t.Fatalf("fast path over TLS: X-Forwarded-Proto %q, HSTS %q; want https and the wrapper's", proto, hsts)
	}

	// A bare LF: net/http's, after the fast path read it over TLS.
	proto, hsts = forwardedProto("GET /headers HTTP/1.1\nHost: hello.localhost\n\n")
	if s := te.Stats(); s.FastRequests != 1 || s.FastHandoffs != 1 {
		t.Fatalf("fast path served %d, handed off %d; want 1 and 1", s.FastRequests, s.FastHandoffs)
	}
	if proto != "https" || hsts == "" {
		t.Fatalf("handed off over TLS: X-Forwarded-Proto %q, HSTS %q; want https and the wrapper's", proto, hsts)
	}

	// HTTP/2: net/http's from the start.
	tr := &http.Transport{TLSClientConfig: client.Clone(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/headers", nil)
	req.Host = "hello.localhost"
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h http.Header
	json.NewDecoder(resp.Body).Decode(&h)
	if resp.ProtoMajor != 2 || h.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("HTTP/2: proto %s, X-Forwarded-Proto %q; want HTTP/2 and https", resp.Proto, h.Get("X-Forwarded-Proto"))
	}
	if s := te.Stats(); s.FastRequests != 1 || s.FastHandoffs != 2 {
		t.Fatalf("fast path served %d, handed off %d; want 1 and 2", s.FastRequests, s.FastHandoffs)
	}
}
