// Package testbed is the multi-host test bed of issue 8: three regions,
// each with two node agents, an edge, a load balancer and a DNS server,
// plus the operator, every host a `zeitwork` process in a network
// namespace of its own on a bridge that stands for the internet, and a
// client namespace per region. Its tests cut hosts and regions off and
// check what users see. The package has no code outside its tests.
package testbed
