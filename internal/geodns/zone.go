package geodns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// zone is one zone we are authoritative for: the apps zone, whose names
// one label under the apex all exist (every project's and deployment's
// host), or a CNAME target, whose apex is its only name.
type zone struct {
	apex     string // canonical, with the trailing dot
	suffix   string // "." + apex
	wildcard bool
	hosts    map[string]bool         // further names answered like hosts (targets inside the zone)
	glue     map[string][]netip.Addr // name servers inside the zone
	soa      *dns.SOA
	ns       []dns.RR
}

// nameKind is what a name is in a zone, which decides the answer.
type nameKind int

const (
	kindNone      nameKind = iota // NXDOMAIN
	kindApex                      // SOA, NS, and the load balancers
	kindHost                      // the load balancers
	kindChallenge                 // ACME TXT values
	kindNSHost                    // a name server's addresses
)

func newZone(apex string, wildcard bool, c *Config, serial uint32) *zone {
	z := &zone{apex: apex, suffix: "." + apex, wildcard: wildcard, hosts: map[string]bool{}, glue: map[string][]netip.Addr{}}
	z.soa = &dns.SOA{
		Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: c.NSTTL},
		Ns:  c.Nameservers[0].Name, Mbox: c.Hostmaster, Serial: serial,
		Refresh: 3600, Retry: 600, Expire: 1209600, Minttl: c.NegativeTTL,
	}
	for _, ns := range c.Nameservers {
		z.ns = append(z.ns, &dns.NS{Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: c.NSTTL}, Ns: ns.Name})
		if ns.Name == apex || strings.HasSuffix(ns.Name, z.suffix) {
			z.glue[ns.Name] = ns.Addrs
		}
	}
	return z
}

// contains says whether name (canonical) is in the zone.
func (z *zone) contains(name string) bool { return name == z.apex || strings.HasSuffix(name, z.suffix) }

// kind classifies a canonical name of the zone.
func (z *zone) kind(name string, acme *Challenges) nameKind {
	if _, ok := z.glue[name]; ok {
		return kindNSHost
	}
	if name == z.apex {
		return kindApex
	}
	rel := name[:len(name)-len(z.suffix)]
	if rel == "_acme-challenge" || strings.HasPrefix(rel, "_acme-challenge.") {
		if (z.wildcard && rel == "_acme-challenge") || len(acme.Lookup(name)) > 0 {
			return kindChallenge
		}
		return kindNone
	}
	if (z.wildcard && !strings.Contains(rel, ".")) || z.hosts[name] {
		return kindHost
	}
	return kindNone
}

// negative is the SOA for NXDOMAIN and NODATA answers, whose TTL is the
// negative caching time (RFC 2308, section 3).
func (z *zone) negative() dns.RR {
	soa := *z.soa
	soa.Hdr.Ttl = min(z.soa.Hdr.Ttl, z.soa.Minttl)
	return &soa
}
