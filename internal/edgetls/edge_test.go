package edgetls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// tlsEdge is an edge with HTTPS and HTTP listeners on loopback, set up as
// `zeitwork edge` sets it up.
type tlsEdge struct {
	httpsAddr, httpAddr string
	m                   *Manager
	src                 *edge.StaticSource // Set changes the edge's route table
}

// routedApp starts an app behind a node tunnel and returns a table that
// routes host to it.
func routedApp(t *testing.T, host string) api.RouteTable {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/client":
			fmt.Fprint(w, r.Header.Get("X-Forwarded-For"))
			return
		case "/drip": // ?n= events, ?every= apart: a stream with pauses
			drip(w, r)
			return
		}
		fmt.Fprintf(w, "hello from the app over %s", r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(app.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tunnel.Serve(ctx, ln, tunnelTestToken, func(string) (string, bool) {
			return app.Listener.Addr().String(), true
		}, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return api.RouteTable{Version: 1, TunnelToken: tunnelTestToken, Routes: []api.Route{{
		Host: host, Project: "hello", Deployment: "d1", Status: "live",
		Backends: []api.Backend{{Instance: "i-1", NodeAddr: ln.Addr().String()}},
	}}}
}

func drip(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	every, _ := time.ParseDuration(r.URL.Query().Get("every"))
	w.Header().Set("Content-Type", "text/event-stream")
	for i := range n {
		if i > 0 {
			select {
			case <-time.After(every):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "data: %d\n\n", i)
		w.(http.Flusher).Flush()
	}
}

// startTLSEdge runs an edge with the table, its certificates in the
// operator's storage, issued by ca.
func startTLSEdge(t *testing.T, srv *operatortest.Server, token string, table api.RouteTable, tweak func(*Config)) *tlsEdge {
	return startTLSEdgeOn(t, listen(t), listen(t), srv, token, table, tweak)
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// edgeTweak, when set, adjusts the next edges' configuration.
// tunnelTestToken is what the test tunnel listeners (plain TCP) accept.
const tunnelTestToken = "tunnel-secret"

var edgeTweak func(*edge.Config)

// startTLSEdgeOn is startTLSEdge on given HTTPS and HTTP listeners.
func startTLSEdgeOn(t *testing.T, lnS, lnH net.Listener, srv *operatortest.Server, token string, table api.RouteTable, tweak func(*Config)) *tlsEdge {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	src := edge.NewStaticSource(table)
	ecfg := edge.Config{Source: src}
	if edgeTweak != nil {
		edgeTweak(&ecfg)
	}
	e := edge.New(ecfg, log)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); e.Run(ctx) }()
	for deadline := time.Now().Add(5 * time.Second); !e.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the edge got no route table")
		}
	}
	cfg := Config{
		Storage: newStorage(srv, token), Allowed: e.Routes, Policy: e.TLSPolicy, Plain: e, Log: log,
		HTTPPort: port(lnH), HTTPSPort: port(lnS),
	}
	tweak(&cfg)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	https := e.NewServer("")
	https.Handler = m.WrapHSTS(https.Handler)
	plain := e.NewServer("")
	plain.Handler = m.HTTPHandler()
	go e.Serve(https, m.Listener(e.Listener(lnS)))
	go plain.Serve(e.Listener(lnH))
	t.Cleanup(func() {
		https.Close()
		plain.Close()
		cancel()
		<-runDone
		m.Stop()
	})
	return &tlsEdge{httpsAddr: lnS.Addr().String(), httpAddr: lnH.Addr().String(), m: m, src: src}
}

func port(ln net.Listener) int {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

// httpsClient sends every request to addr, verifying against roots.
func httpsClient(addr string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// handshake dials addr with SNI name and returns the served leaf, or the
// handshake's error.
func handshake(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 60 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}
