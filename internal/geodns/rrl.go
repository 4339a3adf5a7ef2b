package geodns

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// respKind is what a response is, for rate limiting: each client
// network has a bucket per kind, so that a flood of errors does not
// starve its answers.
type respKind uint8

const (
	kindAnswer   respKind = iota // NOERROR, with records or without (NODATA)
	kindNXDomain                 // NXDOMAIN
	kindError                    // REFUSED, FORMERR, other errors, referrals
	numKinds
)

var kindNames = [numKinds]string{"answer", "nxdomain", "error"}

// verdict is what to do with one UDP response.
type verdict uint8

const (
	verdictSend verdict = iota
	verdictDrop
	verdictSlip // send it truncated, without records
)

// rrlWays is the entries per set: a network is kept in one of the
// rrlWays slots its hash picks, so a lookup is bounded and an insert
// evicts within the set.
const rrlWays = 4

// limiter is response rate limiting: a token bucket per (client
// network, kind) in a fixed-size, set-associative table. Buckets hold
// up to one second of responses and may run into debt down to -window
// seconds of them, as BIND's accounts do; a response is limited while
// its bucket is below zero. The table never grows: a new network
// replaces, in its set, an empty slot or the one with the most credit
// (a network that is not being limited, whose state is lost at no
// cost), so random spoofed sources cannot evict the networks that are
// being limited unless the set is full of limited ones.
type limiter struct {
	rates  [numKinds]float64 // per second
	floor  [numKinds]float64 // -rate*window
	slip   uint32
	v4, v6 int // prefix lengths
	exempt []netip.Prefix
	seed   uint64
	epoch  time.Time
	sets   []rrlSet
	mask   uint64 // len(sets)-1
}

type rrlSet struct {
	mu sync.Mutex
	e  [rrlWays]rrlEntry
	_  [24]byte // keep sets on separate cache lines
}

// rrlEntry is one network's bucket for one kind.
type rrlEntry struct {
	hi, lo uint64  // the masked address (IPv4 mapped into IPv6)
	tag    uint8   // 0: empty; else 1 + kind, +128 for IPv6
	drops  uint32  // limited responses since the bucket went below zero
	tokens float64 // responses it may still send now
	last   int64   // ns since epoch of the last update
}

// newLimiter builds a limiter from a checked configuration; nil if off.
func newLimiter(c RRL) *limiter {
	if c.Off {
		return nil
	}
	sets := 1
	for sets*rrlWays < c.TableSize {
		sets <<= 1
	}
	l := &limiter{slip: uint32(*c.Slip), v4: c.IPv4PrefixLength, v6: c.IPv6PrefixLength,
		exempt: c.Exempt, seed: rand.Uint64(), epoch: time.Now(), sets: make([]rrlSet, sets), mask: uint64(sets - 1)}
	w := time.Duration(c.Window).Seconds()
	for k, r := range [numKinds]uint32{c.ResponsesPerSecond, c.NXDomainsPerSecond, c.ErrorsPerSecond} {
		l.rates[k] = float64(r)
		l.floor[k] = -float64(r) * w
	}
	return l
}

// decide accounts one response of kind k to src's network. first is
// true for the first limited response after the bucket went below zero
// (the start of limiting, worth a log line).
func (l *limiter) decide(src netip.Addr, k respKind) (v verdict, first bool) {
	for _, p := range l.exempt {
		if p.Contains(src) {
			return verdictSend, false
		}
	}
	hi, lo, tag := l.key(src, k)
	now := int64(time.Since(l.epoch))
	s := &l.sets[l.hash(hi, lo, tag)&l.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.find(hi, lo, tag, l, now)
	rate := l.rates[k]
	e.tokens = min(rate, e.tokens+float64(now-e.last)/1e9*rate)
	e.last = now
	e.tokens = max(l.floor[k], e.tokens-1)
	if e.tokens >= 0 {
		e.drops = 0
		return verdictSend, false
	}
	e.drops++
	if l.slip > 0 && e.drops%l.slip == 0 {
		return verdictSlip, e.drops == 1
	}
	return verdictDrop, e.drops == 1
}

// key is src's network for kind k.
func (l *limiter) key(src netip.Addr, k respKind) (hi, lo uint64, tag uint8) {
	tag = 1 + uint8(k)
	bits := l.v4
	if src.Is6() {
		tag |= 128
		bits = l.v6
	}
	p, _ := src.Prefix(bits)
	b := p.Addr().As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), tag
}

// network is src's network, for logs.
func (l *limiter) network(src netip.Addr) netip.Prefix {
	bits := l.v4
	if src.Is6() {
		bits = l.v6
	}
	p, _ := src.Prefix(bits)
	return p
}

// hash mixes the key with a random seed, so that an attacker cannot
// aim its sources at one set.
func (l *limiter) hash(hi, lo uint64, tag uint8) uint64 {
	h := l.seed ^ hi
	h = mix(h) ^ lo
	h = mix(h) ^ uint64(tag)
	return mix(h)
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// find is the key's entry in s, made (full, as a new network's) in an
// empty slot or in place of the one with the most credit at now.
func (s *rrlSet) find(hi, lo uint64, tag uint8, l *limiter, now int64) *rrlEntry {
	victim, best := 0, -1.0
	for i := range s.e {
		e := &s.e[i]
		if e.tag == tag && e.hi == hi && e.lo == lo {
			return e
		}
		credit := 2.0 // an empty slot beats any entry
		if e.tag != 0 {
			r := l.rates[(e.tag&127)-1]
			credit = min(r, e.tokens+float64(now-e.last)/1e9*r) / max(r, 1)
		}
		if credit > best {
			victim, best = i, credit
		}
	}
	e := &s.e[victim]
	*e = rrlEntry{hi: hi, lo: lo, tag: tag, tokens: l.rates[(tag&127)-1], last: now}
	return e
}

// size is the entries in use (tests, metrics).
func (l *limiter) size() int {
	n := 0
	for i := range l.sets {
		s := &l.sets[i]
		s.mu.Lock()
		for _, e := range s.e {
			if e.tag != 0 {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// capacity is the most entries the table holds.
func (l *limiter) capacity() int { return len(l.sets) * rrlWays }
