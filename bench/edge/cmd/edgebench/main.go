// Command edgebench runs the pieces of the edge benchmark as separate
// processes, so that each proxy under test has its own CPU accounting:
//
//	edgebench backend -addr A          tiny keep-alive HTTP server (13-byte body)
//	edgebench backend -addr A -tunnel-header
//	                                   the same, reading a tunnel header first:
//	                                   the edge's target without the tunnel hop
//	edgebench tunnel -addr A -to B     tunnel.Serve, every instance resolves to B
//	edgebench tunnel -addr A -to B -tunnel-tls D
//	                                   tunnel.ServeTLS with the node credential in D,
//	                                   as a node runs it in production
//	edgebench edge -addr A -node N [-tls-addr B -cert C -key K]
//	                                   the Zeitwork edge, one route via node N,
//	                                   also on HTTPS at B with the given certificate;
//	                                   with -tunnel-tls D, over mutual TLS to the node
//	edgebench edge -addr A -node N -direct D
//	                                   the same with the direct transport, the
//	                                   backend's direct address D
//	edgebench natnode -out F           a node's VM network with the direct
//	                                   transport (needs root), the backend in a
//	                                   stand-in VM on its bridge, published for
//	                                   an edge on this host; writes the direct
//	                                   address to F
//	edgebench stock -addr A -node N    httputil.ReverseProxy over the same tunnel
//	edgebench cert -dir D              a test CA and a certificate for every proxy,
//	                                   and the tunnel's CA, node and edge credentials
//	edgebench handshakes -to A -c N -d D
//	                                   new TLS connections per second against A
//
// bench/edge/run.sh starts them next to nginx and Caddy and drives wrk.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// Values shared by the processes of one run.
const (
	benchHost  = "bench.localhost"
	benchToken = "bench-token"
	instanceID = "bench-instance"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: edgebench backend|tunnel|edge|natnode|stock|cert|handshakes [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	to := fs.String("to", "", "tunnel: backend address every instance resolves to; handshakes: TLS address")
	node := fs.String("node", "", "edge, stock: tunnel address of the node")
	stripHeader := fs.Bool("tunnel-header", false, "backend: expect a tunnel header on each connection")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file until exit")
	tlsAddr := fs.String("tls-addr", "", "edge: also serve HTTPS on this address")
	certFile := fs.String("cert", "", "edge: certificate (PEM) for -tls-addr")
	keyFile := fs.String("key", "", "edge: private key (PEM) for -tls-addr")
	dir := fs.String("dir", ".", "cert: directory for ca.pem, cert.pem, key.pem and the tunnel's credentials")
	tunnelTLS := fs.String("tunnel-tls", "", "tunnel, edge: directory of the tunnel's credentials (edgebench cert): mutual TLS")
	directAddr := fs.String("direct", "", "edge: the backend's direct address: the edge uses the direct transport")
	out := fs.String("out", "", "natnode: file the direct address is written to")
	fastPath := fs.Bool("fast-path", true, "edge: serve plain HTTP/1.1 in the edge's fast path (false: net/http only, Config.DisableFastPath)")
	conns := fs.Int("c", 16, "handshakes: concurrent connections")
	dur := fs.Duration("d", 10*time.Second, "handshakes: duration")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "cert":
		exitOn(writeCerts(*dir))
		exitOn(writeTunnelCerts(*dir))
		return
	case "handshakes":
		exitOn(handshakes(*to, *conns, *dur))
		return
	case "natnode":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		exitOn(runNatNode(ctx, *out, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
		return
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "backend":
		if *stripHeader {
			ln = headerListener{ln}
		}
		err = serve(ctx, ln, http.HandlerFunc(hello))
	case "tunnel":
		err = runTunnel(ctx, ln, *to, *tunnelTLS, log)
	case "edge":
		err = runEdge(ctx, ln, *node, *directAddr, *tlsAddr, *certFile, *keyFile, *tunnelTLS, !*fastPath, log)
	case "stock":
		err = serve(ctx, ln, stockProxy(*node))
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	exitOn(err)
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(1)
	}
}

var helloBody = []byte("Hello, world!")

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"text/plain"}
	w.Write(helloBody)
}

func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	context.AfterFunc(ctx, func() { srv.Close() })
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// runEdge serves the edge as the edge role does (cmd/zeitwork): its
// server on its guarded listener, and for HTTPS a TLS listener around
// that with the settings of edgetls.Manager.TLSConfig (TLS 1.2 and up, Go's
// cipher suites, h2 and HTTP/1.1), here with one fixed certificate instead
// of certmagic's on-demand cache.
func runEdge(ctx context.Context, ln net.Listener, node, direct, tlsAddr, certFile, keyFile, tunnelTLS string, noFast bool, log *slog.Logger) error {
	cfg := edge.Config{DirectTransport: direct != "", DisableFastPath: noFast}
	if tunnelTLS != "" {
		cred, err := loadTunnelCredential(tunnelTLS, pki.RoleEdge)
		if err != nil {
			return err
		}
		cfg.TunnelTLS = pki.TunnelClient(cred)
	}
	src := edge.NewStaticSource(api.RouteTable{
		Version:     1,
		TunnelToken: benchToken,
		Routes: []api.Route{{
			Host: benchHost, Project: "bench", Deployment: "bench-1", Status: "live",
			Backends: []api.Backend{{Instance: instanceID, NodeAddr: node, DirectAddr: direct}},
		}},
	})
	cfg.Source = src
	e := edge.New(cfg, log)
	go e.Run(ctx)
	srv := e.NewServer("")
	context.AfterFunc(ctx, func() { srv.Close() })
	errc := make(chan error, 2)
	if tlsAddr != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("load certificate: %w", err)
		}
		tln, err := net.Listen("tcp", tlsAddr)
		if err != nil {
			return err
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"}}
		go func() { errc <- e.Serve(srv, tls.NewListener(e.Listener(tln), cfg)) }()
	}
	go func() { errc <- e.Serve(srv, e.Listener(ln)) }()
	if err := <-errc; err != http.ErrServerClosed {
		return err
	}
	return nil
}

// runTunnel serves a node's tunnel, plain or (tunnelTLS set) over mutual
// TLS as in production, every instance resolving to the backend at to.
func runTunnel(ctx context.Context, ln net.Listener, to, tunnelTLS string, log *slog.Logger) error {
	resolve := func(string) (string, bool) { return to, true }
	if tunnelTLS == "" {
		return tunnel.Serve(ctx, ln, benchToken, resolve, log)
	}
	cred, err := loadTunnelCredential(tunnelTLS, pki.RoleNode)
	if err != nil {
		return err
	}
	return tunnel.ServeTLS(ctx, ln, pki.TunnelServer(cred), resolve, log)
}

// stockProxy is the textbook Go proxy, for comparison: httputil.ReverseProxy
// over an http.Transport whose dialer opens the same tunnel.
func stockProxy(node string) http.Handler {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, node)
			if err != nil {
				return nil, err
			}
			if err := tunnel.WriteHeader(c, instanceID, benchToken); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
		MaxIdleConnsPerHost: 256,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = instanceID
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, err.Error())
		},
	}
}
