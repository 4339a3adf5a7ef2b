// Command edgebench runs the pieces of the edge benchmark as separate
// processes, so that each proxy under test has its own CPU accounting:
//
//	edgebench backend -addr A          tiny keep-alive HTTP server (13-byte body)
//	edgebench backend -addr A -tunnel-header
//	                                   the same, reading a tunnel header first:
//	                                   the edge's target without the tunnel hop
//	edgebench tunnel -addr A -to B     tunnel.Serve, every instance resolves to B
//	edgebench edge -addr A -node N     the Zeitwork edge, one route via node N
//	edgebench stock -addr A -node N    httputil.ReverseProxy over the same tunnel
//
// bench/edge/run.sh starts them next to nginx and Caddy and drives wrk.
package main

import (
	"context"
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
		fmt.Fprintln(os.Stderr, "usage: edgebench backend|tunnel|edge|stock [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	to := fs.String("to", "", "tunnel: backend address every instance resolves to")
	node := fs.String("node", "", "edge, stock: tunnel address of the node")
	stripHeader := fs.Bool("tunnel-header", false, "backend: expect a tunnel header on each connection")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file until exit")
	fs.Parse(os.Args[2:])
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
		err = tunnel.Serve(ctx, ln, benchToken, func(string) (string, bool) { return *to, true }, log)
	case "edge":
		err = runEdge(ctx, ln, *node, log)
	case "stock":
		err = serve(ctx, ln, stockProxy(*node))
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
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

func runEdge(ctx context.Context, ln net.Listener, node string, log *slog.Logger) error {
	src := edge.NewStaticSource(api.RouteTable{
		Version:     1,
		TunnelToken: benchToken,
		Routes: []api.Route{{
			Host: benchHost, Project: "bench", Deployment: "bench-1", Status: "live",
			Backends: []api.Backend{{Instance: instanceID, NodeAddr: node}},
		}},
	})
	e := edge.New(edge.Config{Source: src}, log)
	go e.Run(ctx)
	srv := e.NewServer("")
	context.AfterFunc(ctx, func() { srv.Close() })
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
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
