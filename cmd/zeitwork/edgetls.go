package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/caddyserver/certmagic"
	"github.com/spf13/pflag"

	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/edgetls"
)

// edgeTLSFlags are `zeitwork edge`'s HTTPS options (docs/operations.md, TLS).
type edgeTLSFlags struct {
	listen, ca, email, caRoot string
	challenges                []string
	hsts                      int
}

func (f *edgeTLSFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.listen, "https-listen", "", "HTTPS address (e.g. :443); with it, --listen answers ACME HTTP-01 challenges and redirects everything else to HTTPS (308), but for versioned URLs of projects that opted out")
	fs.StringVar(&f.ca, "acme-ca", certmagic.LetsEncryptProductionCA, "ACME directory URL certificates are issued from")
	fs.StringVar(&f.email, "acme-email", "", "e-mail address of the ACME account (expiry and problem notices)")
	fs.StringVar(&f.caRoot, "acme-ca-root", "", "PEM file of the root(s) to trust for --acme-ca (default: the system's)")
	fs.StringSliceVar(&f.challenges, "acme-challenge", nil, "ACME challenge types to use: http-01, tls-alpn-01 (repeatable; default both)")
	fs.IntVar(&f.hsts, "hsts", 0, "send Strict-Transport-Security with this max-age in seconds on HTTPS (0: none); a project's own max-age (projects update --hsts) replaces it")
}

// serveEdgeTLS serves HTTPS on f.listen and, on httpLn, ACME challenges
// and redirects, until ctx ends. The edge's guarded listener stays under
// TLS: PROXY headers and connection caps come first.
func serveEdgeTLS(ctx context.Context, e *edge.Edge, httpLn net.Listener, f edgeTLSFlags, storage *edgetls.Storage, log *slog.Logger) error {
	roots, err := loadRoots(f.caRoot)
	if err != nil {
		return err
	}
	tlsLn, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("edge https listen %s: %w", f.listen, err)
	}
	m, err := edgetls.New(edgetls.Config{
		Storage: storage, Allowed: e.Routes, CA: f.ca, Email: f.email, Roots: roots,
		Challenges: f.challenges, HSTS: f.hsts, Policy: e.TLSPolicy, Plain: e, Log: log,
		HTTPPort: portNumber(httpLn.Addr()), HTTPSPort: portNumber(tlsLn.Addr()),
	})
	if err != nil {
		tlsLn.Close()
		return err
	}
	defer m.Stop()
	https := e.NewServer(f.listen)
	https.Handler = m.WrapHSTS(https.Handler)
	// The edge's own server settings on HTTP too: versioned URLs whose
	// project opted out of the redirect are proxied there.
	plain := e.NewServer(httpLn.Addr().String())
	plain.Handler = m.HTTPHandler()
	go func() {
		<-ctx.Done()
		https.Shutdown(context.Background())
		plain.Shutdown(context.Background())
	}()
	log.Info("edge listening", "https", f.listen, "http", httpLn.Addr().String(), "acme_ca", f.ca)
	errc := make(chan error, 2)
	// The HTTP port gets the same guard: a load balancer sends PROXY
	// headers there too.
	go func() { errc <- plain.Serve(e.Listener(httpLn)) }()
	go func() { errc <- e.Serve(https, m.Listener(e.Listener(tlsLn))) }()
	for range 2 {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

func loadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--acme-ca-root: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--acme-ca-root %s holds no PEM certificate", file)
	}
	return pool, nil
}

func portNumber(a net.Addr) int {
	_, p, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(strings.TrimSpace(p))
	return n
}
