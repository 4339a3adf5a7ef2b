package lb

import (
	"encoding/binary"
	"net/netip"
)

// proxyHeaderMax is the length of a PROXY v2 header for TCP over IPv6,
// the longest appendProxyHeader writes.
const proxyHeaderMax = 16 + 36

// proxySig is the PROXY protocol v2 signature.
var proxySig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// appendProxyHeader appends the PROXY protocol v2 header of a TCP
// connection from src to dst (PROXY command, no TLVs), without the
// allocations of a general encoder: it runs once per connection.
func appendProxyHeader(b []byte, src, dst netip.AddrPort) []byte {
	b = append(b, proxySig[:]...)
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if s.Is4() && d.Is4() {
		b = append(b, 0x21, 0x11, 0, 12) // v2 PROXY, TCP over IPv4, 12 bytes
		s4, d4 := s.As4(), d.As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
	} else {
		b = append(b, 0x21, 0x21, 0, 36) // v2 PROXY, TCP over IPv6, 36 bytes
		s16, d16 := s.As16(), d.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
