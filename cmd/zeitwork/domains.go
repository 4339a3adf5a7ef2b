package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/zeitwork/zeitwork/internal/operator"
)

// domainFlags are the operator's custom domain settings (docs/operations.md,
// "Custom domains").
func domainFlags(f *pflag.FlagSet, c *operator.DomainConfig) {
	f.StringVar(&c.EdgeHostname, "domain-cname-target", "", "host name users point their domains' CNAME records at, e.g. edge.example.net (default: the project's host under --apps-domain)")
	f.Var((*addrList)(&c.EdgeAddrs), "domain-edge-addr", "public address of the edges, for apex domains' A/AAAA records (repeatable; none: apex domains are refused)")
	f.StringVar(&c.DNSServer, "dns-server", "", "host:port of the resolver that verifies domains (default: the first nameserver of /etc/resolv.conf)")
	f.DurationVar(&c.Grace, "domain-grace", 24*time.Hour, "how long a domain whose records stopped pointing at us stays routed before it is unrouted")
	f.DurationVar(&c.PendingTTL, "domain-pending-ttl", 7*24*time.Hour, "how long a domain may stay unverified before it is removed, releasing the name")
	f.DurationVar(&c.Recheck, "domain-recheck", time.Hour, "how often a verified domain's records are checked again")
}

// addrList is a repeatable flag of IP addresses.
type addrList []netip.Addr

func (l *addrList) String() string {
	var s []string
	for _, a := range *l {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func (l *addrList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("give an IP address such as 203.0.113.7: %w", err)
		}
		*l = append(*l, a.Unmap())
	}
	return nil
}

func (l *addrList) Type() string { return "addr" }
