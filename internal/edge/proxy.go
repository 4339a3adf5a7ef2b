package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// errNoResponse marks an attempt that failed before any byte of a response
// arrived: the instance may not have seen the request, or a kept-alive
// connection had been closed under us.
var errNoResponse = errors.New("no response")

// statusClientClosed is logged (not sent) when the client went away before
// its response; nginx's 499 by the same name.
const statusClientClosed = 499

// ServeHTTP routes r by its Host and forwards it to the host's deployment.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		fixTLS(r) // handed off by the fast path after its handshake
	}
	var start time.Time
	if e.access != nil || e.duration != nil || e.cfg.Ship != nil {
		start = time.Now()
	}
	id := e.setRequestID(w, r)
	var aw *accessWriter
	if e.access != nil || e.projects != nil || e.cfg.Ship != nil {
		// All need the route and the bytes sent.
		aw = &accessWriter{ResponseWriter: w}
		w = aw
	}
	code := e.serve(w, r)
	e.stats.status(code)
	var d time.Duration
	if !start.IsZero() {
		d = time.Since(start)
	}
	if e.duration != nil && code != http.StatusSwitchingProtocols {
		// An upgraded connection's duration is a session's, not a request's.
		e.duration.Observe(d.Seconds())
	}
	if e.projects != nil {
		e.projects.observe(aw.route, code, aw.bytes, d)
	}
	if e.access != nil || (e.cfg.Ship != nil && aw.route != nil) {
		e.logAccess(r, aw, id, code, d)
	}
}

func (e *Edge) serve(w http.ResponseWriter, r *http.Request) int {
	t := e.table.Load()
	if t == nil {
		w.Header().Set("Retry-After", "1")
		return fail(w, http.StatusServiceUnavailable, "the edge has not received its routes yet")
	}
	if code := e.guard(w, r); code != 0 {
		return code
	}
	host := normalizeHost(r.Host)
	rt := t.hosts[host]
	if rt == nil {
		e.stats.noRoute.Add(1)
		return fail(w, http.StatusNotFound, "no app is deployed at "+host)
	}
	noteRoute(w, rt)
	if code := e.limit(w, r, rt); code != 0 {
		return code
	}
	if rt.redirect != "" {
		return redirect(w, r, rt)
	}
	if rt.activity != nil {
		rt.activity.touch()
		if len(rt.backends) == 0 {
			return e.hold(w, r, host, rt)
		}
	}
	if len(rt.backends) == 0 && rt.scaleToZero {
		// Asleep, and no Waker: "no healthy instance yet" would promise
		// an instance that never comes.
		return cannotWake(w, r, rt.deployment)
	}
	if len(rt.backends) == 0 {
		w.Header().Set("Retry-After", "5")
		return fail(w, http.StatusServiceUnavailable, noBackendReason(rt))
	}
	return e.forward(w, r, rt, t.token)
}

// noBackendReason explains a route without healthy instances by the
// deployment's status.
func noBackendReason(rt *route) string {
	switch rt.status {
	case "":
		return fmt.Sprintf("deployment %s has no healthy instance yet", rt.deployment)
	case "failed":
		return fmt.Sprintf("deployment %s failed: it has no healthy instance", rt.deployment)
	default:
		return fmt.Sprintf("deployment %s is %s: no healthy instance yet", rt.deployment, rt.status)
	}
}

// forward tries the route's backends: its tiers in order of region
// preference, round-robin within each, and instances on suspect nodes only
// after all others. Any request moves on after a failed dial, since
// nothing reached the instance, and then skips the node's other
// instances, as after a tunnel that broke (errTunnel), which also makes
// the node suspect; a replayable one also moves on after a connection that ended
// before the response began.
func (e *Edge) forward(w http.ResponseWriter, r *http.Request, rt *route, token string) int {
	retry := replayable(r)
	upgrade := isUpgrade(r)
	if g := connOf(r); upgrade && g != nil {
		g.upgraded.Store(true) // its read timeouts are no slow requests
	}
	start := rt.pick()
	var failed failedNodes
	var err error
	attempts := 0
	// Pass 0 tries the instances on nodes that are not suspect, pass 1
	// those on suspect ones: a suspect node is better than no answer.
loop:
	for pass := range 2 {
		lo := 0
		for _, hi := range rt.tiers {
			for j := range hi - lo {
				b := rt.backends[lo+int((start+uint32(j))%uint32(hi-lo))]
				if failed.has(b.node) || b.node.suspect() != (pass == 1) {
					continue
				}
				if attempts == e.cfg.MaxAttempts {
					break loop
				}
				if attempts > 0 {
					e.stats.retries.Add(1)
				}
				attempts++
				var code int
				code, err = e.try(w, r, b, token, retry, upgrade)
				if err == nil {
					b.node.ok()
					return code
				}
				if errors.Is(err, errClientBody) {
					if isTooLarge(err) {
						return e.tooLarge(w)
					}
					return fail(w, http.StatusBadRequest, "could not read the request body")
				}
				if r.Context().Err() != nil {
					// The client left; nobody will read an answer, and it is not
					// the instance's fault.
					return statusClientClosed
				}
				e.stats.upstreamErrors.Add(1)
				e.log.Warn("edge: upstream attempt failed", "host", rt.host, "deployment", rt.deployment,
					"instance", b.key.instance, "err", err)
				if errors.Is(err, errDial) || errors.Is(err, errTunnel) {
					// The node is unreachable, not the app slow: the next
					// requests avoid it for SuspectFor.
					failed.add(b.node)
					b.node.failed(e.cfg.SuspectFor)
				}
				// After a dial nothing reached the instance; after anything
				// else only a replayable request without an answer moves on.
				if !errors.Is(err, errDial) && !(retry && errors.Is(err, errNoResponse)) {
					break loop
				}
			}
			lo = hi
		}
	}
	return fail(w, http.StatusBadGateway, badGatewayReason(rt, err))
}

func badGatewayReason(rt *route, err error) string {
	why := "the app sent an invalid response"
	switch {
	case errors.Is(err, errDial):
		why = "its node could not be reached"
	case errors.Is(err, errTunnel):
		why = "the connection to its node broke"
	case errors.Is(err, errNoResponse):
		why = "the app closed the connection without answering"
	}
	return fmt.Sprintf("deployment %s: no instance answered (%s)", rt.deployment, why)
}

// try sends r to backend b. A kept-alive connection that turns out to be
// closed is replaced by another one to the same instance; after two such
// failures a fresh connection is dialled. It returns an error only when
// nothing has been written to w.
func (e *Edge) try(w http.ResponseWriter, r *http.Request, b *backend, token string, retry, upgrade bool) (int, error) {
	for stale := 0; ; stale++ {
		c, err := b.get(r.Context(), token, !retry, stale >= 2)
		if err != nil {
			return 0, err
		}
		code, err := e.exchange(w, r, b, c, upgrade)
		// A broken tunnel says the node is gone: its other pooled
		// connections would only wait out the same timeout.
		if err != nil && c.reused && retry && errors.Is(err, errNoResponse) && !errors.Is(err, errTunnel) {
			continue
		}
		return code, err
	}
}

// exchange does one request and response on c and copies the response to
// w. c goes back to the pool if it is still good, else it is closed.
func (e *Edge) exchange(w http.ResponseWriter, r *http.Request, b *backend, c *upConn, upgrade bool) (int, error) {
	// A client that leaves stops the wait for the instance, as with
	// net/http's Transport: the deadline breaks any blocked read or write.
	stop := context.AfterFunc(r.Context(), c.abort)
	defer stop()

	noteInstance(w, b)
	before := c.nread
	if err := writeRequest(c.bw, r, upgrade); err != nil {
		broke := tunnelBroke(c, err)
		c.conn.Close()
		if errors.Is(err, errClientBody) {
			return 0, err
		}
		if broke {
			return 0, fmt.Errorf("send request: %w: %w: %w", errTunnel, errNoResponse, err)
		}
		return 0, fmt.Errorf("send request: %w: %w", errNoResponse, err)
	}
	resp, err := readResponse(c, r, !e.cfg.DisableFastPath)
	if err != nil {
		broke := tunnelBroke(c, err)
		c.conn.Close()
		if broke {
			err = fmt.Errorf("%w: %w", errTunnel, err)
		}
		if c.nread == before {
			return 0, fmt.Errorf("read response: %w: %w", errNoResponse, err)
		}
		return 0, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if !stop() {
			c.conn.Close()
			return http.StatusSwitchingProtocols, nil
		}
		return e.switchProtocols(w, c, resp)
	}
	reuse := copyResponse(w, resp, c, func(err error) {
		if tunnelBroke(c, err) {
			// As when it breaks before the response: the node is
			// unreachable, so the next requests avoid it for SuspectFor.
			b.node.failed(e.cfg.SuspectFor)
		}
	})
	if reuse && !upgrade && stop() {
		b.put(c)
	} else {
		c.conn.Close()
	}
	return resp.StatusCode, nil
}

// readResponse reads the final response to r, skipping interim 1xx ones
// (100 Continue, 103 Early Hints) but not 101, which ends HTTP on c. With
// fast set, a plain response is parsed by the fast path's parser
// (readResponseFast), anything else by net/http.
func readResponse(c *upConn, r *http.Request, fast bool) (*http.Response, error) {
	for {
		var resp *http.Response
		var err error
		if fast {
			resp, err = readResponseFast(c, r)
		}
		if resp == nil && err == nil {
			resp, err = http.ReadResponse(c.br, r)
		}
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// respHopByHop are response headers that describe the upstream connection.
var respHopByHop = map[string]bool{
	"Connection":         true,
	"Keep-Alive":         true,
	"Proxy-Connection":   true,
	"Proxy-Authenticate": true,
	"Te":                 true,
	"Trailer":            true,
	"Transfer-Encoding":  true,
	"Upgrade":            true,
	// The edge's request ID is the one in its access log; an app's own
	// does not replace it.
	"X-Request-Id": true,
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyResponse writes resp to w and reports whether the upstream
// connection can carry another request. A body of unknown length (chunked,
// server-sent events) is flushed after every read so that it streams.
// broke is told why a body broke off before the handler aborts.
func copyResponse(w http.ResponseWriter, resp *http.Response, c *upConn, broke func(error)) bool {
	h := w.Header()
	for k, vv := range resp.Header {
		if !respHopByHop[k] {
			h[k] = vv
		}
	}
	if resp.Header["Content-Type"] == nil {
		h["Content-Type"] = nil // no sniffing: forward what the app sent
	}
	w.WriteHeader(resp.StatusCode)

	var flusher http.Flusher
	if resp.ContentLength < 0 {
		flusher, _ = w.(http.Flusher)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return false // the client left; the rest of the body is lost
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The instance broke off mid-body. Aborting the handler makes
			// the server cut the client's connection, so the client sees a
			// truncated response instead of a short one that looks whole.
			broke(rerr)
			c.conn.Close()
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	return !resp.Close
}

// fail writes a short plain-text error page and returns its status.
func fail(w http.ResponseWriter, code int, msg string) int {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
	return code
}
