package edge

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// guard applies the edge's own limits to r before it is routed: the
// connection caps and the header size. It returns the status it answered
// with, or 0 to go on.
func (e *Edge) guard(w http.ResponseWriter, r *http.Request) int {
	if g := connOf(r); g != nil {
		switch reason := int(g.refused.Load()); reason {
		case refusedConns:
			return e.refuse(w, reason, http.StatusServiceUnavailable, 1, true,
				"the edge has too many open connections; try again shortly")
		case refusedClientConns:
			return e.refuse(w, reason, http.StatusTooManyRequests, 1, true,
				"too many open connections from your address; reuse or close some")
		}
	}
	if headerSize(r) > e.cfg.MaxHeaderBytes {
		return e.refuse(w, refusedHeader, http.StatusRequestHeaderFieldsTooLarge, 0, true,
			"request line and headers are larger than "+strconv.Itoa(e.cfg.MaxHeaderBytes)+" bytes")
	}
	return 0
}

// limit applies the route's rate limits and the body size limit.
func (e *Edge) limit(w http.ResponseWriter, r *http.Request, rt *route) int {
	if rt.limits != nil {
		if no, ok := e.limits.allow(rt.project, clientAddr(r), rt.limits, time.Now()); !ok {
			msg := "rate limit exceeded for " + rt.project + "; slow down"
			if no.reason == refusedClientRate {
				msg = "rate limit exceeded for your address at " + rt.project + "; slow down"
			}
			return e.refuse(w, no.reason, http.StatusTooManyRequests, retryAfter(no.wait), false, msg)
		}
	}
	if r.ContentLength > e.cfg.MaxBodyBytes {
		return e.tooLarge(w)
	}
	if r.ContentLength < 0 {
		// A chunked body is counted as it is read (forward maps the error).
		r.Body = http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes)
	}
	return 0
}

func (e *Edge) tooLarge(w http.ResponseWriter) int {
	return e.refuse(w, refusedBody, http.StatusRequestEntityTooLarge, 0, true,
		"request body is larger than "+strconv.FormatInt(e.cfg.MaxBodyBytes, 10)+" bytes")
}

// isTooLarge reports whether err came from a body past MaxBodyBytes.
func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// refuse counts a refusal and answers it; retry > 0 sets Retry-After and
// closeConn ends the connection after the answer.
func (e *Edge) refuse(w http.ResponseWriter, reason, code, retry int, closeConn bool, msg string) int {
	e.stats.refused[reason].Add(1)
	h := w.Header()
	if retry > 0 {
		h["Retry-After"] = []string{strconv.Itoa(retry)}
	}
	if closeConn {
		h["Connection"] = []string{"close"}
	}
	return fail(w, code, msg)
}

// headerSize is the size of r's request line and headers as sent, give
// or take the separators' spelling.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Host) + 20
	for k, vv := range r.Header {
		for _, v := range vv {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// clientAddr is the address of r's client: from its connection (which
// took it from a trusted PROXY header, if any), never from a header the
// client sent.
func clientAddr(r *http.Request) netip.Addr {
	if g := connOf(r); g != nil && g.client.IsValid() {
		return g.client
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
