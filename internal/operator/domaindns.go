package operator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zeitwork/zeitwork/internal/api"
)

// DomainConfig configures custom domains: what their DNS must point at,
// where the operator looks it up, and how often.
type DomainConfig struct {
	// EdgeHostname, if set, is the CNAME target users are told to use
	// (e.g. "edge.example.net", the name of the edges' load balancer);
	// a CNAME to the project's own host under the apps domain is accepted
	// too. Empty: the project's host.
	EdgeHostname string
	// EdgeAddrs are the edges' public addresses, the A/AAAA records of an
	// apex domain (which cannot have a CNAME). Empty: apex domains are
	// refused.
	EdgeAddrs []netip.Addr
	// DNSServer is "host:port" of the recursive resolver verification
	// asks (default: the first nameserver of /etc/resolv.conf).
	DNSServer string
	// Grace is how long a verified domain whose records stopped pointing
	// at us stays routed before it is unrouted (default 24 h): long
	// enough to ride out a DNS provider's mistake, short enough that a
	// forgotten CNAME is not served for another's app for long.
	Grace time.Duration
	// Recheck is how often a verified domain is checked again (default
	// 1 h). RetryMin and RetryMax bound the backoff of a domain whose
	// check failed (defaults 30 s and 1 h).
	Recheck  time.Duration
	RetryMin time.Duration
	RetryMax time.Duration
	// PendingTTL is how long a domain may stay unverified before it is
	// removed (default 7 days), so that a tenant who adds a name it does
	// not own cannot keep its owner from adding it for ever.
	PendingTTL time.Duration
	// Every is how often the operator looks for domains due a check
	// (default 10 s).
	Every time.Duration
}

func (c *DomainConfig) defaults() {
	c.EdgeHostname = strings.ToLower(strings.TrimSuffix(c.EdgeHostname, "."))
	if c.Grace <= 0 {
		c.Grace = 24 * time.Hour
	}
	if c.Recheck <= 0 {
		c.Recheck = time.Hour
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 30 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Hour
	}
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	if c.PendingTTL <= 0 {
		c.PendingTTL = 7 * 24 * time.Hour
	}
	if c.Every <= 0 {
		c.Every = 10 * time.Second
	}
}

// backoff is the wait before the next check of a domain that failed n
// times in a row (n >= 1).
func (c *DomainConfig) backoff(n int32) time.Duration {
	d := c.RetryMin
	for i := int32(1); i < n && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}

// dnsLookup asks one recursive resolver, over UDP and over TCP when an
// answer is truncated. It is configurable, unlike net.DefaultResolver,
// so that tests answer from a DNS server of their own.
type dnsLookup struct {
	server   string
	udp, tcp *dns.Client
}

func newDNSLookup(server string) (*dnsLookup, error) {
	if server == "" {
		// Without one, checks fail with a reason, and nothing else does.
		if conf, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(conf.Servers) > 0 {
			server = net.JoinHostPort(conf.Servers[0], conf.Port)
		}
	} else if _, _, err := net.SplitHostPort(server); err != nil {
		return nil, fmt.Errorf("DNS server %q: give host:port, e.g. 127.0.0.1:53", server)
	}
	return &dnsLookup{server: server,
		udp: &dns.Client{Net: "udp", Timeout: 5 * time.Second},
		tcp: &dns.Client{Net: "tcp", Timeout: 5 * time.Second}}, nil
}

// errLookup marks a failed lookup (no answer, SERVFAIL): the records are
// unknown, not absent, so no domain changes state on it.
var errLookup = errors.New("dns lookup failed")

// query returns the answer section for name and qtype; a name that does
// not exist has an empty answer.
func (l *dnsLookup) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	if l.server == "" {
		return nil, fmt.Errorf("%w: no DNS server: give the operator one (--dns-server) or fix /etc/resolv.conf", errLookup)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	in, _, err := l.udp.ExchangeContext(ctx, m, l.server)
	if err == nil && in.Truncated {
		in, _, err = l.tcp.ExchangeContext(ctx, m, l.server)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", errLookup, dns.TypeToString[qtype], name, err)
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("%w: %s %s: %s", errLookup, dns.TypeToString[qtype], name, dns.RcodeToString[in.Rcode])
	}
	return in.Answer, nil
}

// domainCheck is what one verification found.
type domainCheck struct {
	ok     bool
	reason string // why not ok, for the user
}

// checkDomain looks up both records a domain needs: the TXT record with
// its token (ownership) and a CNAME to one of targets, or, without a
// CNAME, A/AAAA records that are all edge addresses (it points at us).
// An error means a lookup failed and nothing is known.
func (o *Operator) checkDomain(ctx context.Context, name, token string, targets []string) (domainCheck, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	challenge := api.ChallengePrefix + name
	txt, err := o.dns.query(ctx, challenge, dns.TypeTXT)
	if err != nil {
		return domainCheck{}, err
	}
	var found []string
	for _, rr := range txt {
		if t, ok := rr.(*dns.TXT); ok {
			found = append(found, strings.Join(t.Txt, ""))
		}
	}
	if len(found) == 0 {
		return domainCheck{reason: fmt.Sprintf("no TXT record %s with the token", challenge)}, nil
	}
	if !slices.Contains(found, token) {
		return domainCheck{reason: fmt.Sprintf("TXT %s holds %q, not this domain's token", challenge, found)}, nil
	}
	return o.checkPointsAtUs(ctx, name, targets)
}

func (o *Operator) checkPointsAtUs(ctx context.Context, name string, targets []string) (domainCheck, error) {
	answer, err := o.dns.query(ctx, name, dns.TypeCNAME)
	if err != nil {
		return domainCheck{}, err
	}
	for _, rr := range answer {
		c, ok := rr.(*dns.CNAME)
		if !ok || !strings.EqualFold(c.Hdr.Name, dns.Fqdn(name)) {
			continue
		}
		target := strings.ToLower(strings.TrimSuffix(c.Target, "."))
		if slices.Contains(targets, target) {
			return domainCheck{ok: true}, nil
		}
		return domainCheck{reason: fmt.Sprintf("CNAME %s points to %s, not %s", name, target, targets[0])}, nil
	}
	addrs := o.cfg.Domains.EdgeAddrs
	if len(addrs) == 0 {
		return domainCheck{reason: fmt.Sprintf("no CNAME record %s -> %s", name, targets[0])}, nil
	}
	var got []netip.Addr
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		answer, err := o.dns.query(ctx, name, qt)
		if err != nil {
			return domainCheck{}, err
		}
		for _, rr := range answer {
			var ip net.IP
			switch a := rr.(type) {
			case *dns.A:
				ip = a.A
			case *dns.AAAA:
				ip = a.AAAA
			default:
				continue
			}
			if ad, ok := netip.AddrFromSlice(ip); ok {
				got = append(got, ad.Unmap())
			}
		}
	}
	if len(got) == 0 {
		return domainCheck{reason: fmt.Sprintf("no CNAME record %s -> %s, nor A/AAAA records to the edge addresses", name, targets[0])}, nil
	}
	for _, a := range got {
		if !slices.Contains(addrs, a) {
			return domainCheck{reason: fmt.Sprintf("%s has address %s, which is not an edge's; use only %v", name, a, addrs)}, nil
		}
	}
	return domainCheck{ok: true}, nil
}
