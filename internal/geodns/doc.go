// Package geodns is Zeitwork's authoritative DNS server (zeitwork dns).
// It answers for the apps zone and for the CNAME target that custom
// domains point at, with the load balancers of the nearest region that
// has a healthy one, located from the client's EDNS Client Subnet or the
// resolver's address through a MaxMind-format database or a CIDR table.
// It also answers the ACME DNS-01 challenges that edges present through
// the operator, so that edges get a wildcard certificate for the zone.
//
// The pieces are small and composed: a Locator turns an address into a
// location, Regions ranks regions for a location, a Checker keeps the
// load balancers' health, Challenges mirrors the operator's TXT values,
// and Handler answers a query from those.
package geodns
