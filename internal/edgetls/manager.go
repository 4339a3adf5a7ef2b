package edgetls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Config configures a Manager.
type Config struct {
	// Storage holds certificates, keys and locks (NewStorage). Required.
	Storage certmagic.Storage
	// Allowed is the issuance policy: only names it accepts ever get a
	// certificate or cause an ACME order (the edge's route table).
	Allowed func(host string) bool
	// Issuer, if set, issues instead of ACME (LocalCA for `zeitwork up`).
	Issuer certmagic.Issuer
	// ACME directory URL (default Let's Encrypt production), account
	// e-mail, and roots to trust for the directory (nil: the system's).
	CA    string
	Email string
	Roots *x509.CertPool
	// Challenges are the ACME challenge types to use: "http-01" (on
	// the HTTP port), "tls-alpn-01" (on the HTTPS port); none means both.
	Challenges []string
	// HTTPPort and HTTPSPort are where this edge serves HTTP and HTTPS,
	// so that challenges are answered by its own listeners (defaults 80
	// and 443).
	HTTPPort, HTTPSPort int
	// HSTS, when positive, is the max-age in seconds of the
	// Strict-Transport-Security header sent on HTTPS (WrapHSTS).
	HSTS int
	// Policy, if set, is each host's HTTPS settings from its project
	// (edge.Edge.TLSPolicy): a positive HSTS max-age replaces HSTS for
	// the host, and plainHTTP has HTTPHandler serve the host with Plain
	// instead of redirecting it.
	Policy func(host string) (hstsMaxAge int, plainHTTP bool)
	// Plain serves plain HTTP to the hosts Policy lets through (the edge).
	Plain http.Handler
	// Log receives issuance outcomes.
	Log *slog.Logger
	// Zap is certmagic's own logger (default: none).
	Zap *zap.Logger
}

// Manager obtains, renews and serves certificates.
type Manager struct {
	cfg    Config
	cache  *certmagic.Cache
	magic  *certmagic.Config
	acme   *certmagic.ACMEIssuer // nil with a Config.Issuer
	fails  *failureBackoff
	status statusReporter // nil: outcomes are only logged, backoff per edge
}

// statusReporter is a storage that records issuance outcomes and keeps
// the backoff shared by all edges (Storage).
type statusReporter interface {
	ReportStatus(ctx context.Context, s api.CertStatus) (api.CertAttempt, error)
	Attempt(ctx context.Context, name string) (api.CertAttempt, error)
}

// New returns a manager; it issues nothing until a handshake asks for an
// allowed name.
func New(cfg Config) (*Manager, error) {
	if cfg.Storage == nil || cfg.Allowed == nil {
		return nil, errors.New("edgetls: storage and issuance policy are required")
	}
	for _, c := range cfg.Challenges {
		if c != "http-01" && c != "tls-alpn-01" {
			return nil, fmt.Errorf("edgetls: unknown ACME challenge %q: use http-01 or tls-alpn-01", c)
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Zap == nil {
		cfg.Zap = zap.NewNop()
	}
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = 80
	}
	if cfg.HTTPSPort == 0 {
		cfg.HTTPSPort = 443
	}
	m := &Manager{cfg: cfg, fails: newFailureBackoff()}
	m.status, _ = cfg.Storage.(statusReporter)
	var magic *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:           cfg.Zap,
	})
	magic = certmagic.New(cache, certmagic.Config{
		Storage: cfg.Storage,
		Logger:  cfg.Zap,
		OnEvent: m.onEvent,
		OnDemand: &certmagic.OnDemandConfig{
			DecisionFunc: m.decide,
		},
	})
	if cfg.Issuer != nil {
		magic.Issuers = []certmagic.Issuer{cfg.Issuer}
	} else {
		http01, alpn := challenges(cfg.Challenges)
		m.acme = certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
			CA: cfg.CA, Email: cfg.Email, Agreed: true, TrustedRoots: cfg.Roots,
			DisableHTTPChallenge: !http01, DisableTLSALPNChallenge: !alpn,
			// Challenges are answered by this edge's own listeners
			// (HTTPHandler, TLSConfig): certmagic then opens none itself.
			AltHTTPPort: cfg.HTTPPort, AltTLSALPNPort: cfg.HTTPSPort,
			Logger: cfg.Zap,
		})
		once := onceIssuer{ACMEIssuer: m.acme, fails: m.fails}
		if m.status != nil {
			once.shared = m.sharedBackoff
		}
		magic.Issuers = []certmagic.Issuer{once}
	}
	m.magic, m.cache = magic, cache
	return m, nil
}

// Stop ends the manager's renewal and maintenance.
func (m *Manager) Stop() { m.cache.Stop() }

// challenges says which challenge types are on; none named means both.
func challenges(names []string) (http01, alpn bool) {
	if len(names) == 0 {
		return true, true
	}
	for _, n := range names {
		http01 = http01 || n == "http-01"
		alpn = alpn || n == "tls-alpn-01"
	}
	return http01, alpn
}

// TLSConfig is the edge's HTTPS configuration: certificates on demand,
// TLS 1.2 and up with Go's modern cipher suites, HTTP/2 and HTTP/1.1, and
// the TLS-ALPN-01 challenge.
func (m *Manager) TLSConfig() *tls.Config {
	c := m.magic.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	c.NextProtos = []string{"h2", "http/1.1", "acme-tls/1"}
	return c
}

// Listener wraps the edge's guarded listener (edge.Edge.Listener, which
// must stay innermost: PROXY header and connection caps come before TLS).
func (m *Manager) Listener(inner net.Listener) net.Listener {
	return tls.NewListener(inner, m.TLSConfig())
}

// HTTPHandler serves the edge's plain HTTP port: ACME HTTP-01 challenges
// (this edge's or any other's, through the shared storage), the hosts
// Config.Policy lets through over HTTP (with Config.Plain), then a 308 to
// the same URL on HTTPS for everything else.
func (m *Manager) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.acme != nil && m.acme.HandleHTTPChallenge(w, r) {
			return
		}
		if r.Host == "" {
			http.Error(w, "no Host header: use HTTPS with the site's name", http.StatusBadRequest)
			return
		}
		if m.cfg.Policy != nil && m.cfg.Plain != nil {
			if _, plain := m.cfg.Policy(r.Host); plain {
				m.cfg.Plain.ServeHTTP(w, r)
				return
			}
		}
		http.Redirect(w, r, m.httpsURL(r), http.StatusPermanentRedirect)
	})
}

// httpsURL is r's URL on HTTPS, path and query kept.
func (m *Manager) httpsURL(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if m.cfg.HTTPSPort != 443 {
		host += ":" + strconv.Itoa(m.cfg.HTTPSPort)
	}
	return "https://" + host + r.URL.RequestURI()
}

// WrapHSTS adds Strict-Transport-Security to h's responses: the host's
// max-age from Config.Policy when positive, else Config.HSTS when set.
// Serve it on HTTPS only: HSTS over plain HTTP is meaningless and
// forgeable.
func (m *Manager) WrapHSTS(h http.Handler) http.Handler {
	if m.cfg.HSTS <= 0 && m.cfg.Policy == nil {
		return h
	}
	def := ""
	if m.cfg.HSTS > 0 {
		def = "max-age=" + strconv.Itoa(m.cfg.HSTS)
	}
	return hstsHandler{next: h, serve: func(w http.ResponseWriter, r *http.Request) {
		v := def
		if m.cfg.Policy != nil {
			if n, _ := m.cfg.Policy(r.Host); n > 0 {
				v = "max-age=" + strconv.Itoa(n)
			}
		}
		if v != "" {
			w.Header().Set("Strict-Transport-Security", v)
		}
		h.ServeHTTP(w, r)
	}}
}

// hstsHandler is WrapHSTS's handler. It passes every request on, only
// adding a header, so the edge's fast path may serve through it
// (edge.Wrapper).
type hstsHandler struct {
	next  http.Handler
	serve http.HandlerFunc
}

func (h hstsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r) }

// WrapsEdge returns the handler every request is passed on to.
func (h hstsHandler) WrapsEdge() http.Handler { return h.next }
