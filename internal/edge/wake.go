package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scale to zero (issue 11, item 5): a route whose deployment scales to
// zero and has no backends is asleep (or waking). Its requests are held
// here while one call per deployment asks the operator to wake it; they
// go on to the first instance that appears in the route table, which
// arrives through the usual long poll. Holding is bounded in time
// (Config.WakeTimeout) and in number per deployment
// (Config.MaxHeldPerDeployment), and a client that leaves frees its slot.

// wakes tracks the held requests and the wake calls of every deployment.
type wakes struct {
	mu      sync.Mutex
	held    map[string]int
	flights map[string]*wakeFlight
}

// wakeFlight is one wake call for a deployment, shared by all the requests
// held for it: done is closed when the operator answered (err).
type wakeFlight struct {
	start time.Time
	done  chan struct{}
	err   error
}

func newWakes() *wakes {
	return &wakes{held: map[string]int{}, flights: map[string]*wakeFlight{}}
}

// acquire takes one of a deployment's max held slots; false when all are taken.
func (w *wakes) acquire(deployment string, max int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held[deployment] >= max {
		return false
	}
	w.held[deployment]++
	return true
}

func (w *wakes) release(deployment string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held[deployment]--; w.held[deployment] <= 0 {
		delete(w.held, deployment)
	}
}

// total is the number of requests held now.
func (w *wakes) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, h := range w.held {
		n += h
	}
	return n
}

// flight returns the deployment's current wake call, or starts one with
// call: a call in progress, or one the operator accepted less than
// timeout ago (its instances are booting), is shared; a failed or stale
// one is replaced.
func (w *wakes) flight(deployment string, timeout time.Duration, call func(*wakeFlight)) *wakeFlight {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f := w.flights[deployment]; f != nil {
		select {
		case <-f.done:
			if f.err == nil && time.Since(f.start) < timeout {
				return f
			}
		default:
			return f
		}
	}
	f := &wakeFlight{start: time.Now(), done: make(chan struct{})}
	w.flights[deployment] = f
	go call(f)
	return f
}

// woken removes the flight of every deployment the table now serves (or no
// longer has), and returns how long those that got backends took.
func (w *wakes) woken(t *table) []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.flights) == 0 {
		return nil
	}
	serving := map[string]bool{}
	for _, rt := range t.hosts {
		if rt.deployment != "" {
			serving[rt.deployment] = serving[rt.deployment] || len(rt.backends) > 0
		}
	}
	var took []time.Duration
	for d, f := range w.flights {
		up, known := serving[d]
		if up {
			took = append(took, time.Since(f.start))
		}
		if up || !known {
			delete(w.flights, d)
		}
	}
	return took
}

// callWake asks the operator to wake deployment, once for all its held
// requests, and records the answer in f.
func (e *Edge) callWake(deployment string) func(*wakeFlight) {
	return func(f *wakeFlight) {
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.WakeTimeout)
		defer cancel()
		e.stats.wakeCalls.Add(1)
		f.err = e.cfg.Wake.Wake(ctx, deployment)
		if f.err != nil {
			e.stats.wakeFailures.Add(1)
			e.log.Warn("edge: wake deployment", "deployment", deployment, "err", f.err)
		}
		close(f.done)
	}
}

// hold serves a request for a sleeping deployment: it waits, within the
// wake timeout, for the route of host to get a backend, and forwards it
// there.
func (e *Edge) hold(w http.ResponseWriter, r *http.Request, host string, rt *route) int {
	dep := rt.deployment
	if !e.wakes.acquire(dep, e.cfg.MaxHeldPerDeployment) {
		e.stats.wakeOverflow.Add(1)
		return wakeFail(w, r, dep, "too many requests are waiting for it to start; try again in a few seconds")
	}
	defer e.wakes.release(dep)
	var f *wakeFlight
	var done <-chan struct{}
	timer := time.NewTimer(e.cfg.WakeTimeout)
	defer timer.Stop()
	for {
		changed := e.tableChanged()
		t := e.table.Load()
		cur := t.hosts[host]
		switch {
		case cur == nil:
			e.stats.noRoute.Add(1)
			return fail(w, http.StatusNotFound, "no app is deployed at "+host)
		case len(cur.backends) > 0:
			if cur.activity != nil {
				cur.activity.touch() // the idle time counts from now, not from the wait's start
			}
			return e.forward(w, r, cur, t.token)
		case !cur.scaleToZero:
			w.Header().Set("Retry-After", "5")
			return fail(w, http.StatusServiceUnavailable, noBackendReason(cur))
		}
		if f == nil { // still asleep in the newest table: wake it
			f = e.wakes.flight(dep, e.cfg.WakeTimeout, e.callWake(dep))
			done = f.done
		}
		select {
		case <-changed:
		case <-done:
			if f.err != nil {
				// The reason is in the edge's log: it may name internal
				// addresses, which are not the client's business.
				return wakeFail(w, r, dep, "could not be started; try again shortly")
			}
			done = nil // accepted: wait for the instance
		case <-timer.C:
			e.stats.wakeTimeouts.Add(1)
			return wakeFail(w, r, dep, fmt.Sprintf("it did not start within %s; try again shortly", e.cfg.WakeTimeout))
		case <-r.Context().Done():
			return statusClientClosed
		}
	}
}

// tableChanged returns a channel closed when the next table is applied.
func (e *Edge) tableChanged() <-chan struct{} {
	e.changedMu.Lock()
	defer e.changedMu.Unlock()
	return e.changed
}

// signalTable wakes the requests waiting for a table (under e.mu).
func (e *Edge) signalTable() {
	e.changedMu.Lock()
	defer e.changedMu.Unlock()
	close(e.changed)
	e.changed = make(chan struct{})
}

// wakeFail answers 503 for a deployment that could not be woken, with
// Retry-After, in JSON or HTML when the client prefers it, else text.
func wakeFail(w http.ResponseWriter, r *http.Request, deployment, why string) int {
	w.Header().Set("Retry-After", strconv.Itoa(5))
	return asleep(w, r, deployment, "starting up", fmt.Sprintf("deployment %s is scaled to zero and %s", deployment, why))
}

// cannotWake answers 503 for a deployment asleep on an edge without a
// Waker: it has no operator credentials to ask for a wake, so holding
// the request or retrying here would not help. No Retry-After for that
// reason.
func cannotWake(w http.ResponseWriter, r *http.Request, deployment string) int {
	return asleep(w, r, deployment, "asleep", fmt.Sprintf("deployment %s is asleep (scaled to zero) and this edge cannot wake it: "+
		"it has no operator credentials to ask for a wake (an edge enrolled with the operator can); "+
		"send the request through such an edge", deployment))
}

// asleep writes a 503 for an asleep deployment in JSON or HTML when the
// client prefers it, else text; title heads the HTML page.
func asleep(w http.ResponseWriter, r *http.Request, deployment, title, msg string) int {
	h := w.Header()
	accept := r.Header.Get("Accept")
	switch {
	case strings.Contains(accept, "application/json"):
		h["Content-Type"] = []string{"application/json"}
		h["Cache-Control"] = []string{"no-store"}
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": msg, "deployment": deployment})
	case strings.Contains(accept, "text/html"):
		h["Content-Type"] = []string{"text/html; charset=utf-8"}
		h["Cache-Control"] = []string{"no-store"}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<!doctype html><title>"+title+"</title><h1>503: "+title+"</h1><p>"+html.EscapeString(msg)+"</p>\n")
	default:
		return fail(w, http.StatusServiceUnavailable, msg)
	}
	return http.StatusServiceUnavailable
}
