package edge

import (
	"net/http"
	"strings"
)

// redirect answers a request to a redirect domain (www to the apex, say):
// the route's status and a Location on its target host with the request's
// path and query. The scheme is the request's; a port the client gave is
// kept, since the edge listens on the same ports for every host.
func redirect(w http.ResponseWriter, r *http.Request, rt *route) int {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := rt.redirect
	if i := portStart(r.Host); i >= 0 {
		host += r.Host[i:]
	}
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI() // absolute-form
	}
	if !strings.HasPrefix(uri, "/") {
		uri = "/" // "*"
	}
	code := rt.redirectStatus
	if code == 0 {
		code = http.StatusPermanentRedirect
	}
	w.Header().Set("Location", scheme+"://"+host+uri)
	w.WriteHeader(code)
	return code
}
