package guest

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// tcpListen is the socket state "0A" (TCP_LISTEN) in /proc/net/tcp.
const tcpListen = "0A"

// listensOn reports whether a /proc/net/tcp or /proc/net/tcp6 table has a
// socket in LISTEN state on port. Lines look like
//
//	sl  local_address rem_address   st ...
//	0: 00000000:1F90 00000000:0000 0A ...
//
// with the port in hex after the colon, for IPv4 and IPv6 alike.
func listensOn(table []byte, port int) bool {
	s := bufio.NewScanner(bytes.NewReader(table))
	first := true
	for s.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(s.Text())
		if len(f) < 4 || f[3] != tcpListen {
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
		if err == nil && int(p) == port {
			return true
		}
	}
	return false
}
