package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// hotRequest is a typical browser-ish GET as net/http's server hands it
// to the edge.
func hotRequest() *http.Request {
	r, _ := http.NewRequest("GET", "/index.html?q=1", nil)
	r.Host = "hello.localhost"
	r.RequestURI = "/index.html?q=1"
	r.RemoteAddr = "203.0.113.7:51234"
	r.Header.Set("User-Agent", "Mozilla/5.0")
	r.Header.Set("Accept", "text/html,*/*")
	r.Header.Set("Accept-Encoding", "gzip, br")
	r.Header.Set("Connection", "keep-alive")
	r.Header.Set("X-Request-Id", "abc-1")
	return r
}

// TestWriteRequestAllocs pins the request head's cost: it is written
// straight into the connection's buffer, with no allocation per request
// (the Forwarded host used to be quoted into a new string).
func TestWriteRequestAllocs(t *testing.T) {
	r := hotRequest()
	bw := bufio.NewWriterSize(io.Discard, 4096)
	n := testing.AllocsPerRun(200, func() {
		if err := writeRequest(bw, r, false); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("writeRequest: %v allocations per request, want 0", n)
	}
}

// TestRequestIDAllocs pins a new request ID at two allocations: the ID
// and the header value that holds it (it used to take three).
func TestRequestIDAllocs(t *testing.T) {
	e := New(Config{Source: NewStaticSource(routeTable(1))}, nil)
	e.idSeq.Store(1 << 40) // long IDs, as after a while in production
	r := hotRequest()
	w := &discardWriter{h: http.Header{}}
	n := testing.AllocsPerRun(200, func() {
		delete(r.Header, "X-Request-Id")
		e.setRequestID(w, r)
	})
	if n > 2 {
		t.Fatalf("setRequestID: %v allocations, want at most 2", n)
	}
}

// TestUpstreamConnsReused checks that concurrent keep-alive traffic opens
// no more tunnel connections than requests in flight: connections go back
// to the pool and are reused instead of being dialled again (churn would
// cost a TCP handshake and a tunnel header per request).
func TestUpstreamConnsReused(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	const clients, perClient = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perClient {
				req, _ := http.NewRequest("GET", "http://"+te.addr+"/", nil)
				req.Host = "hello.localhost"
				resp, err := te.client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- &statusError{resp.StatusCode}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := te.Stats()
	if s.Responses[2] != clients*perClient {
		t.Fatalf("%d 2xx responses, want %d", s.Responses[2], clients*perClient)
	}
	if s.UpstreamDials < 1 || s.UpstreamDials > clients {
		t.Fatalf("%d tunnel connections dialled for %d requests from %d clients, want 1 to %d",
			s.UpstreamDials, clients*perClient, clients, clients)
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }

// BenchmarkWriteRequest is the cost of writing one request head upstream.
func BenchmarkWriteRequest(b *testing.B) {
	r := hotRequest()
	bw := bufio.NewWriterSize(io.Discard, 4096)
	b.ReportAllocs()
	for b.Loop() {
		writeRequest(bw, r, false)
	}
}

// BenchmarkForwardParallel is BenchmarkForward with requests in flight on
// every core, as under load: pool contention and connection reuse show.
func BenchmarkForwardParallel(b *testing.B) {
	a := startApp(b, "a")
	node := startNode(b, map[string]string{"i-a": a.addr})
	e := startEdgeConfig(b, Config{}, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := hotRequest()
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			e.ServeHTTP(w, req)
		}
	})
	b.ReportMetric(float64(e.Stats().UpstreamDials), "dials")
}

// TestClientGoneStopsUpstream: a client that leaves while the app has not
// answered ends the edge's wait at once (context.AfterFunc on the request
// aborts the upstream connection), so the app sees its request cancelled
// and the edge counts a 499, not a 502. The hook costs some 3% of the
// edge's CPU per request (docs/benchmarks.md, Edge hot path); this test
// keeps a cheaper replacement honest.
func TestClientGoneStopsUpstream(t *testing.T) {
	cancelled := make(chan struct{})
	app := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(time.Minute):
		}
	}))
	node := startNode(t, map[string]string{"i-a": app})
	te := startEdge(t, apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	c, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: hello.localhost\r\n\r\n")
	waitFor(t, func() bool { return te.Stats().UpstreamDials > 0 })
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the app still waits on its request 10 s after the client left")
	}
	waitFor(t, func() bool { return te.Stats().Responses[4] == 1 })
	if s := te.Stats(); s.Responses[5] != 0 || s.UpstreamErrors != 0 {
		t.Fatalf("client gone counted as the instance's failure: %+v", s)
	}
}
