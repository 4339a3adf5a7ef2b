package edge

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/tokenbucket"
)

// limiter keeps the token buckets of the projects' rate limits: one per
// project and one per (project, client address). The per-client buckets
// live in an LRU of bounded size, so that a flood from many addresses
// costs a fixed amount of memory; an address pushed out starts again with
// a full bucket, which the project's own bucket still bounds.
type limiter struct {
	mu       sync.Mutex
	max      int
	projects map[string]*limitBucket
	clients  map[clientKey]*list.Element // of *clientBucket
	lru      list.List                   // front: most recently used
}

// limitBucket is a bucket with the limit it was made for, so that a
// changed limit replaces the bucket rather than keep the old rate.
type limitBucket struct {
	limit api.RateLimit
	b     *tokenbucket.Bucket
}

type clientKey struct {
	project string
	addr    netip.Addr
}

type clientBucket struct {
	key clientKey
	limitBucket
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, projects: map[string]*limitBucket{}, clients: map[clientKey]*list.Element{}}
}

// refusal says which limit refused a request and when to come back.
type refusal struct {
	reason int // refusedClientRate or refusedProjectRate
	wait   time.Duration
}

// allow takes a token from the client's bucket and then from the
// project's. A client over its own limit takes nothing from the project,
// so one noisy client cannot spend the project's budget for the others.
func (l *limiter) allow(project string, client netip.Addr, lim *api.RateLimits, now time.Time) (refusal, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim.Client.Rate > 0 {
		b := l.client(clientKey{project, clientPrefix(client)}, lim.Client, now)
		if !b.Allow(now) {
			return refusal{refusedClientRate, b.Wait(now)}, false
		}
	}
	if lim.Project.Rate > 0 {
		pb := l.projects[project]
		if pb == nil || pb.limit != lim.Project {
			pb = &limitBucket{lim.Project, newBucket(lim.Project, now)}
			l.projects[project] = pb
		}
		if !pb.b.Allow(now) {
			return refusal{refusedProjectRate, pb.b.Wait(now)}, false
		}
	}
	return refusal{}, true
}

// client returns the bucket for k, making it (and evicting the least
// recently used one past the cap) if needed.
func (l *limiter) client(k clientKey, lim api.RateLimit, now time.Time) *tokenbucket.Bucket {
	if el := l.clients[k]; el != nil {
		cb := el.Value.(*clientBucket)
		if cb.limit == lim {
			l.lru.MoveToFront(el)
			return cb.b
		}
		l.lru.Remove(el)
		delete(l.clients, k)
	}
	for len(l.clients) >= l.max {
		old := l.lru.Back()
		delete(l.clients, old.Value.(*clientBucket).key)
		l.lru.Remove(old)
	}
	cb := &clientBucket{key: k, limitBucket: limitBucket{lim, newBucket(lim, now)}}
	l.clients[k] = l.lru.PushFront(cb)
	return cb.b
}

// reap forgets buckets that have refilled: a new one would be the same.
func (l *limiter) reap(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for el := l.lru.Back(); el != nil; {
		prev := el.Prev()
		if cb := el.Value.(*clientBucket); cb.b.Full(now) {
			delete(l.clients, cb.key)
			l.lru.Remove(el)
		}
		el = prev
	}
	for p, pb := range l.projects {
		if pb.b.Full(now) {
			delete(l.projects, p)
		}
	}
}

// size returns how many client buckets are kept (tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

func newBucket(lim api.RateLimit, now time.Time) *tokenbucket.Bucket {
	return tokenbucket.New(lim.Rate, max(1, lim.Burst), now)
}

// clientPrefix is the part of an address that names one client: the
// address itself for IPv4, its /64 for IPv6, since one host is routinely
// given a whole /64 and could otherwise rotate through it.
func clientPrefix(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is4() || !a.IsValid() {
		return a
	}
	p, _ := a.Prefix(64)
	return p.Addr()
}

// retryAfter is a Retry-After value in whole seconds, at least one.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
