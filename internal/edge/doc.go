// Package edge is the HTTP edge proxy: it routes a request by its Host to
// the deployment that serves that host and forwards it, round-robin, to one
// of the deployment's healthy instances through the instance's node agent
// (package tunnel).
//
// The route table comes from a RouteSource (the operator's long-polled
// /v1/edge/routes, or a static table) and is swapped atomically, so a change
// takes effect on the next request. Upstream connections are plain HTTP/1.1
// over tunnel connections kept in a small pool per instance; the proxy loop
// is our own rather than net/http's Transport and httputil.ReverseProxy,
// because those reach about half its throughput on a tiny response
// (see docs/benchmarks.md). WebSocket and other upgrades, chunked and
// streamed (server-sent events) bodies and trailers go through the same loop.
package edge
