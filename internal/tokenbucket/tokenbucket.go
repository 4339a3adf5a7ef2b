// Package tokenbucket is a token bucket for rate limits that count items
// (log lines, requests at the edge), with the time passed in so that tests need no clock.
package tokenbucket

import "time"

// Bucket holds up to burst tokens and gains rate tokens a second. It is not
// safe for concurrent use; its owner holds a lock. A nil Bucket allows all.
type Bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// New returns a full bucket.
func New(rate float64, burst int, now time.Time) *Bucket {
	return &Bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// Allow takes one token if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	if b == nil {
		return true
	}
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(b.burst, b.tokens+d*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Wait returns how long until Allow would take a token: zero when one is
// there now. Callers tell a refused client when to come back (Retry-After).
func (b *Bucket) Wait(now time.Time) time.Duration {
	if b == nil || b.rate <= 0 {
		return 0
	}
	have := min(b.burst, b.tokens+max(0, now.Sub(b.last).Seconds())*b.rate)
	if have >= 1 {
		return 0
	}
	return time.Duration((1 - have) / b.rate * float64(time.Second))
}

// Full reports whether the bucket has refilled, so that an owner keeping
// one per key can forget it.
func (b *Bucket) Full(now time.Time) bool {
	return b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst
}
