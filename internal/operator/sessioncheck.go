package operator

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
)

// A browser sends the session cookie with every request to the API's
// origin, including those a page of another site makes it send. So a
// cookie-authenticated request is let in only from the API's own pages
// (crossSite), and one that may change anything only with the session's
// CSRF token, which only the API's own pages can read (checkCSRF).

var (
	errSessionEnded = &apiError{http.StatusUnauthorized, "your session has ended", "sign in again"}
	errCrossSite    = &apiError{http.StatusForbidden, "a request with the session cookie from another site is refused",
		"use the dashboard on the API's own address, or a bearer token (`zeitwork tokens create`) from scripts"}
	errCSRF = &apiError{http.StatusForbidden, "missing or wrong " + api.CSRFHeader + " header",
		"send the csrf_token of POST or GET /v1/session in the " + api.CSRFHeader + " header with every request that changes something"}
)

// safeMethod reports whether a request with method m changes nothing.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// crossSite reports whether the browser says r comes from a page of
// another origin. Sec-Fetch-Site is sent by current browsers; "same-site"
// is refused too, since apps are served under subdomains of the same
// site and are run by tenants. Without it, Origin (sent with every
// cross-origin request and every POST) must be the API's own: the host
// the request was sent to, or that of the public URL.
func (o *Operator) crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return true // "null" (a sandboxed frame, a redirect) or garbage
	}
	if u.Host == r.Host {
		return false
	}
	pub, err := url.Parse(o.cfg.PublicURL)
	return err != nil || o.cfg.PublicURL == "" || u.Host != pub.Host || u.Scheme != pub.Scheme
}

// sessionPrincipal resolves a session cookie to its user: refused from
// another site, without the CSRF token on a changing request, or once the
// session ended.
func (o *Operator) sessionPrincipal(r *http.Request, cookie, addr string) (principal, error) {
	if o.crossSite(r) {
		return principal{}, errCrossSite
	}
	ctx := r.Context()
	row, err := o.store.GetSessionByHash(ctx, hashToken(cookie))
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return principal{}, errSessionEnded
		}
		return principal{}, err
	}
	now := time.Now()
	ends := o.sessionEnds(row.ExpiresAt, row.LastSeenAt)
	if !now.Before(ends) {
		return principal{}, errSessionEnded
	}
	if !safeMethod(r.Method) && subtle.ConstantTimeCompare([]byte(r.Header.Get(api.CSRFHeader)), []byte(row.CsrfToken)) != 1 {
		return principal{}, errCSRF
	}
	if o.touches.due(row.ID, addr, now) {
		if err := o.store.TouchSession(ctx, row.ID); err != nil {
			return principal{}, err
		}
		ends = o.sessionEnds(row.ExpiresAt, now)
	}
	p := principal{
		kind: kindUser, userID: row.UserID, addr: addr, installAdmin: row.InstallationAdmin,
		roleCap: roleOwner, sessionID: row.ID, sessionEnds: ends,
	}
	return o.inOrganisation(r, p, uuid.NullUUID{})
}

// sessionEnds is when a session ends unless used again.
func (o *Operator) sessionEnds(expires, lastSeen time.Time) time.Time {
	if idle := lastSeen.Add(o.cfg.Sessions.Idle); idle.Before(expires) {
		return idle
	}
	return expires
}
