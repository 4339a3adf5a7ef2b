package edge

import "sync/atomic"

// Stats is a snapshot of the edge's counters since it started.
type Stats struct {
	// Responses by status class: Responses[2] counts 2xx, and so on.
	Responses [6]uint64
	// UpstreamErrors counts failed attempts to reach an instance (dial,
	// reset, malformed response), retried or not.
	UpstreamErrors uint64
	// Retries counts requests sent again to another attempt.
	Retries uint64
	// UpstreamDials counts tunnel connections opened to node agents.
	// Under steady load it stays near the number of concurrent requests:
	// kept-alive connections are reused, so more means churn.
	UpstreamDials uint64
	// NoRoute counts requests for hosts without a route (also in 4xx).
	NoRoute uint64
	// Refused counts requests and connections the edge turned away to
	// protect itself or an app, by reason (RefusalReasons).
	Refused map[string]uint64
	// Scale to zero: Wakes counts wake calls to the operator (one per
	// deployment however many requests wait), WakeFailures those it
	// refused or did not answer, WakeTimeouts held requests answered 503
	// after the wake timeout, WakeOverflow requests refused (503) because
	// their deployment already had its maximum held; Held is the number
	// of requests held now.
	Wakes, WakeFailures, WakeTimeouts, WakeOverflow uint64
	Held                                            int
	// FastRequests counts requests the edge's own HTTP/1.1 loop served
	// (Edge.Serve), FastHandoffs connections it handed to net/http.
	FastRequests, FastHandoffs uint64
}

// Why the edge refused a request or connection; index into counters.refused.
const (
	refusedClientRate  = iota + 1 // 429: the client is over its project's per-client limit
	refusedProjectRate            // 429: the project is over its limit
	refusedClientConns            // 429: the client has too many connections open
	refusedConns                  // 503: the edge has too many connections open
	refusedHeader                 // 431: request line and headers too large
	refusedBody                   // 413: request body too large
	refusedProxy                  // connection closed: PROXY header missing, malformed or untrusted
	refusedSlowHeader             // connection closed: request headers not complete within ReadHeaderTimeout
	nRefused
)

// RefusalReasons names the refusal reasons as Stats.Refused and the
// metric's reason label spell them.
var RefusalReasons = [nRefused]string{"", "client_rate", "project_rate", "client_conns", "conns",
	"header_size", "body_size", "proxy_header", "slow_header"}

type counters struct {
	responses      [6]atomic.Uint64
	upstreamErrors atomic.Uint64
	retries        atomic.Uint64
	upstreamDials  atomic.Uint64
	noRoute        atomic.Uint64
	refused        [nRefused]atomic.Uint64
	wakeCalls      atomic.Uint64
	wakeFailures   atomic.Uint64
	wakeTimeouts   atomic.Uint64
	wakeOverflow   atomic.Uint64
	fastRequests   atomic.Uint64
	fastHandoffs   atomic.Uint64
}

func (c *counters) status(code int) {
	if k := code / 100; k >= 1 && k <= 5 {
		c.responses[k].Add(1)
	}
}

// Stats returns the current counters.
func (e *Edge) Stats() Stats {
	var s Stats
	for i := range s.Responses {
		s.Responses[i] = e.stats.responses[i].Load()
	}
	s.UpstreamErrors = e.stats.upstreamErrors.Load()
	s.Retries = e.stats.retries.Load()
	s.UpstreamDials = e.stats.upstreamDials.Load()
	s.NoRoute = e.stats.noRoute.Load()
	s.Refused = make(map[string]uint64, nRefused-1)
	for i := 1; i < nRefused; i++ {
		s.Refused[RefusalReasons[i]] = e.stats.refused[i].Load()
	}
	s.Wakes, s.WakeFailures = e.stats.wakeCalls.Load(), e.stats.wakeFailures.Load()
	s.WakeTimeouts, s.WakeOverflow = e.stats.wakeTimeouts.Load(), e.stats.wakeOverflow.Load()
	s.Held = e.wakes.total()
	s.FastRequests, s.FastHandoffs = e.stats.fastRequests.Load(), e.stats.fastHandoffs.Load()
	return s
}
