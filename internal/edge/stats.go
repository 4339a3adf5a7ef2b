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
	// NoRoute counts requests for hosts without a route (also in 4xx).
	NoRoute uint64
}

type counters struct {
	responses      [6]atomic.Uint64
	upstreamErrors atomic.Uint64
	retries        atomic.Uint64
	noRoute        atomic.Uint64
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
	s.NoRoute = e.stats.noRoute.Load()
	return s
}
