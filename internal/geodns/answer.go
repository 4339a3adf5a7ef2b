package geodns

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// Answer is the response to req from a client (or resolver) at src,
// before truncation. It never fails: what cannot be answered gets an
// error code.
func (h *Handler) Answer(req *dns.Msg, src netip.Addr) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Compress = true
	opt := req.IsEdns0()
	if req.Opcode != dns.OpcodeQuery {
		return finish(resp.SetRcode(req, dns.RcodeNotImplemented), opt, nil, 0)
	}
	if len(req.Question) != 1 {
		return finish(resp.SetRcode(req, dns.RcodeFormatError), opt, nil, 0)
	}
	if opt != nil && opt.Version() != 0 {
		return finish(resp.SetRcode(req, dns.RcodeBadVers), opt, nil, 0)
	}
	ecs, client, err := clientSubnet(opt, src)
	if err != nil {
		return finish(resp.SetRcode(req, dns.RcodeFormatError), opt, nil, 0)
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	z := h.zoneFor(name)
	if z == nil || q.Qclass != dns.ClassINET {
		return finish(resp.SetRcode(req, dns.RcodeRefused), opt, ecs, 0)
	}
	resp.Authoritative = true
	scope := h.resolve(resp, z, name, q, client)
	return finish(resp, opt, ecs, scope)
}

// finish adds our OPT record when the query had one, with the client
// subnet echoed and the scope the answer holds for (RFC 7871).
func finish(resp *dns.Msg, opt *dns.OPT, ecs *dns.EDNS0_SUBNET, scope int) *dns.Msg {
	if opt == nil {
		return resp
	}
	resp.SetEdns0(maxUDP, false)
	if rc := resp.Rcode; rc > 0xF {
		resp.IsEdns0().SetExtendedRcode(uint16(rc))
	}
	if ecs != nil {
		o := resp.IsEdns0()
		o.Option = append(o.Option, echoSubnet(ecs, scope))
	}
	return resp
}

// zoneFor is the most specific zone name is in, nil if none.
func (h *Handler) zoneFor(name string) *zone {
	var best *zone
	for _, z := range h.zones {
		if z.contains(name) && (best == nil || len(z.apex) > len(best.apex)) {
			best = z
		}
	}
	return best
}

// resolve fills in the answer for a name of z and returns the ECS scope.
func (h *Handler) resolve(resp *dns.Msg, z *zone, name string, q dns.Question, client netip.Addr) int {
	kind := z.kind(name, h.acme)
	if kind == kindNone {
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{z.negative()}
		return 0
	}
	var scope int
	switch {
	case kind == kindApex && q.Qtype == dns.TypeSOA:
		resp.Answer = []dns.RR{dns.Copy(z.soa)}
	case kind == kindApex && q.Qtype == dns.TypeNS:
		resp.Answer = append(resp.Answer, z.ns...)
		resp.Extra = z.glueRRs(h.cfg.NSTTL)
	case (kind == kindApex || kind == kindHost) && isAddr(q.Qtype):
		var addrs []netip.Addr
		addrs, scope = h.balancers(q.Qtype, client)
		resp.Answer = addrRRs(q.Name, q.Qtype, h.cfg.TTL, addrs)
	case kind == kindNSHost && isAddr(q.Qtype):
		resp.Answer = addrRRs(q.Name, q.Qtype, h.cfg.NSTTL, z.glue[name])
	case kind == kindChallenge && q.Qtype == dns.TypeTXT:
		for _, v := range h.acme.Lookup(name) {
			resp.Answer = append(resp.Answer, &dns.TXT{Hdr: hdr(q.Name, dns.TypeTXT, h.cfg.ChallengeTTL), Txt: []string{v}})
		}
	}
	if len(resp.Answer) == 0 {
		resp.Ns = []dns.RR{z.negative()} // NODATA
	}
	return scope
}

// balancers are the load balancers to answer a client at a with, of
// the query's family, and the prefix length the choice holds for.
func (h *Handler) balancers(qtype uint16, a netip.Addr) ([]netip.Addr, int) {
	loc, scope := h.loc.Locate(a)
	v := h.health.View()
	i, ok := h.regions.pick(loc, v.healthy)
	h.metrics.region(i, ok)
	if !ok {
		// Fail open (regions.pick): every configured load balancer.
		var all []netip.Addr
		for _, b := range h.regions.list[i].LoadBalancers {
			if b.Unmap().Is4() == (qtype == dns.TypeA) {
				all = append(all, b.Unmap())
			}
		}
		return all, scope
	}
	if qtype == dns.TypeA {
		return v.v4[i], scope
	}
	return v.v6[i], scope
}

func isAddr(t uint16) bool { return t == dns.TypeA || t == dns.TypeAAAA }

func hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// addrRRs are the A or AAAA records (by qtype) of the addresses of that
// family, named as asked.
func addrRRs(name string, qtype uint16, ttl uint32, addrs []netip.Addr) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		switch {
		case qtype == dns.TypeA && a.Unmap().Is4():
			b := a.Unmap().As4()
			out = append(out, &dns.A{Hdr: hdr(name, qtype, ttl), A: net.IP(b[:])})
		case qtype == dns.TypeAAAA && a.Is6() && !a.Is4In6():
			b := a.As16()
			out = append(out, &dns.AAAA{Hdr: hdr(name, qtype, ttl), AAAA: net.IP(b[:])})
		}
	}
	return out
}

// glueRRs are the addresses of the name servers inside the zone, for
// the additional section of an NS answer.
func (z *zone) glueRRs(ttl uint32) []dns.RR {
	var out []dns.RR
	for name, addrs := range z.glue {
		out = append(out, addrRRs(name, dns.TypeA, ttl, addrs)...)
		out = append(out, addrRRs(name, dns.TypeAAAA, ttl, addrs)...)
	}
	return out
}
