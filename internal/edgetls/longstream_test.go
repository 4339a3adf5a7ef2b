package edgetls

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSlowlorisClosedLongStreamKept, with the edge's default timeouts on
// its production listeners (HTTPS, HTTP/2): a response streamed for over
// a minute, with pauses longer than the upstream idle timeout, arrives
// whole, while connections that trickle their TLS handshake or their
// request headers a byte at a time are closed by the read-header timeout.
func TestSlowlorisClosedLongStreamKept(t *testing.T) {
	srv, token := newOperator(t)
	ca, err := LoadOrCreateLocalCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := startTLSEdge(t, srv, token, routedApp(t, "hello.localhost"), func(c *Config) { c.Issuer = ca })

	stream := make(chan error, 1)
	start := time.Now()
	go func() {
		c := httpsClient(e.httpsAddr, ca.Pool())
		c.Timeout = 2 * time.Minute // the client's own limit, above the stream's length
		resp, err := c.Get("https://hello.localhost/drip?n=3&every=31s")
		if err != nil {
			stream <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
		case resp.ProtoMajor != 2:
			err = fmt.Errorf("streamed over %s, want HTTP/2", resp.Proto)
		case strings.Count(string(b), "data: ") != 3:
			err = fmt.Errorf("stream cut: got %q", b)
		case time.Since(start) < time.Minute:
			err = fmt.Errorf("stream took %v, want over a minute", time.Since(start))
		}
		stream <- err
	}()

	const limit = 20 * time.Second // the default read-header timeout (10 s) and slack
	trickle := func(name string, conn net.Conn, data string) {
		t.Helper()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for i := 0; i < len(data); i++ {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{data[i]}); err != nil {
					return
				}
			}
		}()
		began := time.Now()
		conn.SetReadDeadline(time.Now().Add(2 * limit))
		b, _ := io.ReadAll(conn)
		if d := time.Since(began); d > limit {
			t.Fatalf("%s: closed only after %v", name, d)
		}
		if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 400 ") {
			t.Fatalf("%s: answered %q, want the connection closed", name, b)
		}
	}
	// The first bytes of a TLS record header, then nothing useful.
	raw, err := net.Dial("tcp", e.httpsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	trickle("slow TLS handshake", raw, "\x16\x03\x01\x02\x00"+strings.Repeat("\x00", 100))

	tc, err := tls.Dial("tcp", e.httpsAddr, &tls.Config{ServerName: "hello.localhost", RootCAs: ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	trickle("slow request headers over TLS", tc, "GET / HTTP/1.1\r\nHost: hello.localhost\r\nX-Slow: "+strings.Repeat("z", 100))

	if err := <-stream; err != nil {
		t.Fatal(err)
	}
}
