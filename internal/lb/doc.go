// Package lb is Zeitwork's L4 load balancer (`zeitwork lb`): it accepts
// TCP connections on a region's public ports (80 and 443) and relays each,
// unread, to one healthy edge of its region, picked round-robin or by
// fewest connections. Edges are checked actively (TCP connect or an HTTP
// GET, with HAProxy-style rise and fall counts); a connection whose edge
// cannot be reached is retried on another before the client gets a byte.
// With no healthy edge in its region it spills to the other regions' edges
// in the configured order of preference.
//
// Each relayed connection starts with a PROXY protocol v2 header naming
// the client, so that edges, which trust it only from configured load
// balancer addresses (edge.Config.TrustedProxies), log and rate-limit by
// the real client address. TLS is not terminated here; the edge does that.
//
// Connections are served as HAProxy's threads serve them: one epoll loop
// per P (loop.go) accepts on its own SO_REUSEPORT socket, connects to the
// edge without blocking, writes the header and relays with one read and
// one write per ready socket through pooled buffers (session.go), with no
// goroutine per connection. Linux only, as the rest of Zeitwork.
package lb
