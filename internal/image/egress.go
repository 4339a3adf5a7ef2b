package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrForbiddenAddress is returned (wrapped in the dial error) when a
// registry host resolves to an address tenants may not make the platform
// fetch from: loopback, private, CGNAT, link-local, unique-local,
// unspecified or multicast.
var ErrForbiddenAddress = errors.New("registry address not allowed")

// Egress is the policy for fetching images on behalf of tenants, whose image
// references name any host they like. Credentials go only to the
// operator's own registry, and registries on non-public addresses are
// refused unless the operator allowed them: otherwise a tenant could make
// the operator or a node fetch from cloud metadata, databases or admin
// interfaces on the private network, or collect the node's token.
type Egress struct {
	own       string
	allowed   map[string]bool
	dial      http.RoundTripper // every connection through the address check
	transport http.RoundTripper
}

// NewEgress returns the policy for a platform whose own registry is
// reached as own ("host:port", exactly as image references name it).
// allowed lists further registries ("host:port", or "host" for any port)
// that may be fetched even though they resolve to non-public addresses.
// own is always allowed.
func NewEgress(own string, allowed []string) *Egress {
	e := &Egress{own: strings.ToLower(own), allowed: map[string]bool{}}
	for _, a := range append([]string{own}, allowed...) {
		if a != "" {
			e.allowed[strings.ToLower(a)] = true
		}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A proxy would dial on our behalf, out of reach of the address check.
	t.Proxy = nil
	t.DialContext = e.dialContext
	e.dial = t
	e.transport = stripForeignAuth{hosts: map[string]bool{e.own: true}, next: t}
	return e
}

// Options are the resolve options that apply the policy: auth is sent to
// the own registry only, every connection goes through the address check.
func (e *Egress) Options(auth authn.Authenticator) []Option {
	return e.OptionsFor(auth, nil)
}

// Transport is the policy's HTTP transport.
func (e *Egress) Transport() http.RoundTripper { return e.transport }

// IsOwn reports whether registry (as in a reference) is the own registry.
func (e *Egress) IsOwn(registry string) bool { return strings.EqualFold(registry, e.own) }

// Allowed reports whether hostport may be fetched whatever its address.
func (e *Egress) Allowed(hostport string) bool {
	hostport = strings.ToLower(hostport)
	if e.allowed[hostport] {
		return true
	}
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && e.allowed[host]
}

// dialContext dials addr through the address check.
func (e *Egress) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: e.control(addr)}
	return d.DialContext(ctx, network, addr)
}

// control returns the check of the addresses addr (the host:port of the
// request, before name resolution) resolves to: non-public addresses are
// refused unless addr is allowed. It runs on the resolved address right
// before connect, so a public name that resolves to 127.0.0.1 is refused
// as well, and nothing is sent to a refused address.
func (e *Egress) control(addr string) func(network, address string, c syscall.RawConn) error {
	if e.Allowed(addr) {
		return nil
	}
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !PublicAddr(ap.Addr()) {
			return fmt.Errorf("%w: %s resolves to %s", ErrForbiddenAddress, addr, address)
		}
		return nil
	}
}

// nonPublic are ranges the netip predicates below do not cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("2001::/32"),      // Teredo: embeds any IPv4 address
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
}

// PublicAddr reports whether a is an address on the public internet, the
// only kind tenants may make the platform fetch from.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// hostKeychain hands each registry its own credentials and nothing to any
// other: a tenant's image reference can name a registry it controls.
type hostKeychain map[string]authn.Authenticator

func (k hostKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a := k[strings.ToLower(r.RegistryStr())]; a != nil {
		return a, nil
	}
	return authn.Anonymous, nil
}

// stripForeignAuth removes credentials from every request that is not to
// a host that has them (the own registry, a project's registry).
// go-containerregistry sends Basic credentials to the token realm a
// registry names and may follow redirects with headers attached; this is
// the last line that keeps them home whatever the path.
type stripForeignAuth struct {
	hosts map[string]bool // lowercase host:port, as references name them
	next  http.RoundTripper
}

func (s stripForeignAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" && !s.hosts[strings.ToLower(r.URL.Host)] {
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
	}
	return s.next.RoundTrip(r)
}

// PullReason describes why fetching an image failed, for users: a short,
// fixed description, never text the registry sent (a tenant could point
// the platform at a service whose answers it must not read).
func PullReason(err error) string {
	var terr *transport.Error
	var nerr net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrForbiddenAddress):
		return "registry address not allowed: loopback, private and link-local registries must be allowed by the operator"
	case errors.Is(err, ErrInvalidRef):
		return "invalid image reference"
	case errors.Is(err, ErrNotFound):
		return "not found"
	case errors.Is(err, ErrUnauthorized):
		return "registry refused access"
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrUnsafePath):
		return err.Error() // our own words about the image's contents
	case errors.As(err, &terr):
		return fmt.Sprintf("registry answered %d", terr.StatusCode)
	case errors.As(err, &nerr), errors.Is(err, context.DeadlineExceeded):
		return "registry unreachable"
	}
	return "the registry sent an image that could not be read"
}

// TrustCA adds the cluster's CA (PEM) to the roots fetches trust, for an
// own registry served over TLS with a certificate of that CA (the
// operator started with --tls-name).
func (e *Egress) TrustCA(caPEM []byte) error {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("trust cluster ca: no certificate in PEM")
	}
	e.dial.(*http.Transport).TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return nil
}
