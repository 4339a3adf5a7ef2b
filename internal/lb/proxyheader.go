package lb

import (
	"encoding/binary"
	"net"
)

// proxyHeaderMax is the length of a PROXY v2 header for TCP over IPv6,
// the longest appendProxyHeader writes.
const proxyHeaderMax = 16 + 36

// proxySig is the PROXY protocol v2 signature.
var proxySig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// appendProxyHeader appends the PROXY protocol v2 header of a TCP
// connection from src to dst (PROXY command, no TLVs), without the
// allocations of a general encoder: it runs once per connection.
func appendProxyHeader(b []byte, src, dst *net.TCPAddr) []byte {
	b = append(b, proxySig[:]...)
	s4, d4 := src.IP.To4(), dst.IP.To4()
	if s4 != nil && d4 != nil {
		b = append(b, 0x21, 0x11, 0, 12) // v2 PROXY, TCP over IPv4, 12 bytes
		b = append(b, s4...)
		b = append(b, d4...)
	} else {
		b = append(b, 0x21, 0x21, 0, 36) // v2 PROXY, TCP over IPv6, 36 bytes
		b = append(b, src.IP.To16()...)
		b = append(b, dst.IP.To16()...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(src.Port))
	return binary.BigEndian.AppendUint16(b, uint16(dst.Port))
}
