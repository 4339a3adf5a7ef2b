package geodns

import (
	"errors"
	"net/netip"

	"github.com/miekg/dns"
)

// errBadECS is a malformed EDNS Client Subnet option: RFC 7871, section
// 7.1.1, answers it with FORMERR.
var errBadECS = errors.New("malformed edns client subnet option")

// clientSubnet returns the ECS option of a query (nil if none) and the
// address to locate the client by: the option's, or src when there is
// none or its source prefix is 0 (the client asks not to be located by
// subnet).
func clientSubnet(opt *dns.OPT, src netip.Addr) (*dns.EDNS0_SUBNET, netip.Addr, error) {
	if opt == nil {
		return nil, src, nil
	}
	for _, o := range opt.Option {
		e, ok := o.(*dns.EDNS0_SUBNET)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(e.Address)
		if !ok {
			return nil, src, errBadECS
		}
		if e.Family == 1 {
			a = a.Unmap() // miekg/dns unpacks IPv4 as 16 bytes
		}
		bits := int(e.SourceNetmask)
		switch {
		case e.Family == 1 && a.Is4() && bits <= 32:
		case e.Family == 2 && a.Is6() && bits <= 128:
		default:
			return nil, src, errBadECS
		}
		p := netip.PrefixFrom(a, bits)
		if p.Masked().Addr() != a {
			return nil, src, errBadECS // address bits past the source prefix
		}
		if bits == 0 {
			return e, src, nil
		}
		return e, a, nil
	}
	return nil, src, nil
}

// echoSubnet is the response's copy of the query's option, with the
// scope the answer holds for.
func echoSubnet(e *dns.EDNS0_SUBNET, scope int) *dns.EDNS0_SUBNET {
	limit := 32
	if e.Family == 2 {
		limit = 128
	}
	if e.SourceNetmask == 0 {
		scope = 0
	}
	return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: e.Family, SourceNetmask: e.SourceNetmask,
		SourceScope: uint8(min(scope, limit)), Address: e.Address}
}
