package operator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Browser sessions (docs/security.md, "Sessions"): a password or a
// one-time link buys a session cookie; the cookie then stands for the
// user like their login token (authenticate), with the checks of
// sessioncheck.go.

// errBadSignIn answers a wrong password and an unknown address alike.
var errBadSignIn = &apiError{http.StatusUnauthorized, "wrong e-mail address or password",
	"check both; an administrator can send you a sign-in link (`zeitwork users signin-link EMAIL`)"}

// errNoSession answers a bearer token on a session's own routes (a
// request with neither gets authenticate's 401).
var errNoSession = &apiError{http.StatusBadRequest, "this request carries an API token, not a session",
	"sign in with POST /v1/session; API tokens are listed with GET /v1/tokens"}

// randomSecret is 32 random bytes, base64url without padding.
func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signIn checks an e-mail address and password and starts a session.
// Unknown addresses and users without a password cost one argon2id
// verification too, so that neither the answer nor its time tells them
// apart from a wrong password.
func (o *Operator) signIn(w http.ResponseWriter, r *http.Request) error {
	if o.crossSite(r) {
		return errCrossSite // a page of another site signing the browser in
	}
	var req api.SignInRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(req.Email))
	// The reservation is cleared with the address's failures on success.
	if _, err := o.reserveSignIn(ctx, w, email, clientAddr(r)); err != nil {
		return err
	}
	u, err := o.store.GetUserByEmail(ctx, email)
	if err != nil && !isNotFound(store.Classify(err)) {
		return err
	}
	if err == nil {
		// Only a user's address is recorded: what is typed for an unknown
		// one may be a password typed into the wrong field.
		auditFrom(ctx).setObject("user", email)
	}
	hash := o.dummy.get(o.cfg.Sessions.argon())
	if err == nil && u.PasswordHash.Valid {
		hash = u.PasswordHash.String
	}
	ok, verr := verifyPassword(hash, req.Password)
	if verr != nil {
		o.log.Error("stored password hash unreadable", "user", u.ID, "err", verr)
	}
	if err != nil || !u.PasswordHash.Valid || !ok {
		return errBadSignIn // the reserved attempt stays, counted as a failure
	}
	if err := o.store.ClearSignInFailures(ctx, email); err != nil {
		return err
	}
	return o.startSession(w, r, u)
}

// reserveSignIn counts an attempt as a failure before it is checked, and
// refuses it (429, with Retry-After) while the address or the client has
// too many recent failures; a success deletes the reservation (its id).
// The count and the reservation happen under locks of the address and
// the client, so that attempts at the same moment, on any replica, never
// pass the limit together.
func (o *Operator) reserveSignIn(ctx context.Context, w http.ResponseWriter, email, addr string) (int64, error) {
	c := o.cfg.Sessions
	var id int64
	var n db.CountSignInFailuresRow
	err := o.store.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
		if err := q.LockSignInAttempts(ctx, db.LockSignInAttemptsParams{Email: email, ClientAddr: addr}); err != nil {
			return err
		}
		var err error
		n, err = q.CountSignInFailures(ctx, db.CountSignInFailuresParams{Email: email, ClientAddr: addr, WindowSeconds: c.FailureWindow.Seconds()})
		if err != nil || int(n.ByEmail) >= c.EmailFailures || int(n.ByAddr) >= c.AddrFailures {
			return err
		}
		id, err = q.ReserveSignInAttempt(ctx, db.ReserveSignInAttemptParams{Email: email, ClientAddr: addr})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("count sign-in attempts: %w", err)
	}
	if id != 0 {
		return id, nil
	}
	oldest := n.OldestAddr
	if int(n.ByEmail) >= c.EmailFailures {
		oldest = n.OldestEmail
	}
	wait := max(time.Until(oldest.Add(c.FailureWindow)), time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second).Seconds())))
	return 0, &apiError{http.StatusTooManyRequests, "too many failed sign-ins; try again in " + wait.Round(time.Second).String(),
		"wait, or ask an administrator for a sign-in link (`zeitwork users signin-link EMAIL`)"}
}

// startSession makes a session for u, sets its cookie and answers with
// what the dashboard needs to know.
func (o *Operator) startSession(w http.ResponseWriter, r *http.Request, u db.User) error {
	body, err := o.newSession(w, r, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// newSession makes a session for u and sets its cookie; every way of
// signing in (password, link, GitHub) makes sessions here.
func (o *Operator) newSession(w http.ResponseWriter, r *http.Request, u db.User) (api.Session, error) {
	ctx := r.Context()
	p, err := o.inOrganisation(r, principal{kind: kindUser, userID: u.ID, installAdmin: u.InstallationAdmin, roleCap: roleOwner, addr: clientAddr(r)}, uuid.NullUUID{})
	if err != nil {
		return api.Session{}, err
	}
	token, csrf := randomSecret(), randomSecret()
	s, err := o.store.CreateSession(ctx, db.CreateSessionParams{
		ID: uuid.New(), UserID: u.ID, TokenHash: hashToken(token), CsrfToken: csrf,
		ExpiresAt: time.Now().Add(o.cfg.Sessions.MaxAge), ClientAddr: clientAddr(r), UserAgent: auditText(r.UserAgent(), 300),
	})
	if err != nil {
		return api.Session{}, err
	}
	p.sessionID = s.ID
	rec := auditFrom(ctx)
	rec.setActor(actorOf(p))
	rec.setObject("user", u.Email)
	http.SetCookie(w, &http.Cookie{
		Name: api.SessionCookie, Value: token, Path: "/", MaxAge: int(o.cfg.Sessions.MaxAge.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return o.sessionBody(ctx, p, u.Email, csrf, s.ExpiresAt)
}

func (o *Operator) sessionBody(ctx context.Context, p principal, email, csrf string, expires time.Time) (api.Session, error) {
	out := api.Session{
		User: api.SessionUser{ID: p.userID.String(), Email: email, InstallationAdmin: p.installAdmin},
		Role: p.role.String(), CSRFToken: csrf, ExpiresAt: expires,
	}
	if p.orgID != uuid.Nil {
		org, err := o.store.GetOrganisationByName(ctx, p.orgName)
		if err != nil {
			return out, err
		}
		out.Organisation = &api.Organisation{ID: org.ID.String(), Name: org.Name, Role: p.role.String(), CreatedAt: org.CreatedAt}
	}
	return out, nil
}

// getSession answers a page load: who is signed in, and the CSRF token.
func (o *Operator) getSession(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	c, err := r.Cookie(api.SessionCookie)
	if p.sessionID == uuid.Nil || err != nil {
		return errNoSession
	}
	s, err := o.store.GetSessionByHash(r.Context(), hashToken(c.Value))
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return errSessionEnded
		}
		return err
	}
	body, err := o.sessionBody(r.Context(), p, s.Email, s.CsrfToken, s.ExpiresAt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// clearSessionCookie tells the browser to forget the cookie.
func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: api.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// signOut ends the request's session.
func (o *Operator) signOut(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.sessionID == uuid.Nil {
		return errNoSession
	}
	if _, err := o.store.DeleteSession(r.Context(), p.sessionID); err != nil {
		return err
	}
	clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeAllSessions ends every session of the caller, this one too ("sign
// out everywhere"); a bearer token may ask as well. Streams that sessions
// hold open end (the sessions trigger wakes every replica).
func (o *Operator) revokeAllSessions(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.limited {
		return errLimitedToken
	}
	n, err := o.store.DeleteUserSessions(r.Context(), db.DeleteUserSessionsParams{UserID: p.userID, Keep: uuid.Nil})
	if err != nil {
		return err
	}
	clearSessionCookie(w)
	writeJSON(w, http.StatusOK, api.RevokedSessions{Revoked: n})
	return nil
}

var errLimitedToken = &apiError{http.StatusForbidden, "a token limited to an organisation, role or projects may not do this",
	"use your login token, or sign in"}

// signInWithLink spends a one-time sign-in link and starts a session.
func (o *Operator) signInWithLink(w http.ResponseWriter, r *http.Request) error {
	if o.crossSite(r) {
		return errCrossSite
	}
	var req api.SignInLinkRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	user, err := o.store.UseSignInLink(ctx, hashToken(strings.TrimSpace(req.Token)))
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return &apiError{http.StatusUnauthorized, "this sign-in link was already used or has expired",
				"ask an administrator for a new one (`zeitwork users signin-link EMAIL`)"}
		}
		return err
	}
	u, err := o.store.GetUserByID(ctx, user)
	if err != nil {
		return err
	}
	return o.startSession(w, r, u)
}

// createSignInLink makes a one-time sign-in link for a user (the caller's
// own without an address); installation administrators only.
func (o *Operator) createSignInLink(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateSignInLinkRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if email == "" {
		if p.userID == uuid.Nil {
			return invalid("name the user: zeitwork users signin-link EMAIL", "this token belongs to no user")
		}
		u, err := o.store.GetUserByID(r.Context(), p.userID)
		if err != nil {
			return err
		}
		email = u.Email
	}
	auditFrom(r.Context()).setObject("user", email)
	link, err := o.newSignInLink(r.Context(), email, p.userID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, link)
	return nil
}

func (o *Operator) newSignInLink(ctx context.Context, email string, by uuid.UUID) (api.SignInLink, error) {
	link, err := CreateSignInLink(ctx, o.store, email, o.cfg.Sessions.LinkTTL, by)
	if err != nil {
		return link, err
	}
	if o.cfg.PublicURL != "" {
		link.URL = SignInURL(o.cfg.PublicURL, link.Token)
	}
	return link, nil
}

// SignInURL is the dashboard's page that spends a sign-in link's token.
func SignInURL(api, token string) string {
	return strings.TrimRight(api, "/") + "/signin?token=" + token
}

// CreateSignInLink makes a one-time sign-in link for the user of email,
// valid for ttl (zeitwork up prints one for the first user).
func CreateSignInLink(ctx context.Context, s *store.Store, email string, ttl time.Duration, by uuid.UUID) (api.SignInLink, error) {
	u, err := s.GetUserByEmail(ctx, email)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return api.SignInLink{}, notFound("list the members with `zeitwork members list`", "no user %s", email)
		}
		return api.SignInLink{}, err
	}
	token := "zwl_" + randomSecret()
	l, err := s.CreateSignInLink(ctx, db.CreateSignInLinkParams{
		ID: uuid.New(), UserID: u.ID, TokenHash: hashToken(token), ExpiresAt: time.Now().Add(ttl), CreatedBy: nullUUID(by),
	})
	if err != nil {
		return api.SignInLink{}, err
	}
	return api.SignInLink{Email: u.Email, Token: token, ExpiresAt: l.ExpiresAt}, nil
}

// changePassword sets the caller's password, checking the current one
// (failures count towards the sign-in limit), and ends their other
// sessions.
func (o *Operator) changePassword(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.limited {
		return errLimitedToken
	}
	var req api.ChangePasswordRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	u, err := o.store.GetUserByID(ctx, p.userID)
	if err != nil {
		return err
	}
	auditFrom(ctx).setObject("user", u.Email)
	if u.PasswordHash.Valid {
		attempt, err := o.reserveSignIn(ctx, w, u.Email, clientAddr(r))
		if err != nil {
			return err
		}
		ok, err := verifyPassword(u.PasswordHash.String, req.CurrentPassword)
		if err != nil || !ok {
			return &apiError{http.StatusForbidden, "the current password is wrong", "give your current password in current_password"}
		}
		if err := o.store.DeleteSignInFailure(ctx, attempt); err != nil {
			return err
		}
	}
	if err := validPassword(req.NewPassword); err != nil {
		return err
	}
	hash := hashPassword(req.NewPassword, o.cfg.Sessions.argon())
	if err := o.store.SetUserPassword(ctx, db.SetUserPasswordParams{ID: u.ID, PasswordHash: pgtype.Text{String: hash, Valid: true}}); err != nil {
		return err
	}
	if _, err := o.store.DeleteUserSessions(ctx, db.DeleteUserSessionsParams{UserID: u.ID, Keep: p.sessionID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// newPasswordHash checks and hashes an optional password given at sign-up
// or when accepting an invitation; "" for none.
func (o *Operator) newPasswordHash(pw string) (pgtype.Text, error) {
	if pw == "" {
		return pgtype.Text{}, nil
	}
	if err := validPassword(pw); err != nil {
		return pgtype.Text{}, err
	}
	return pgtype.Text{String: hashPassword(pw, o.cfg.Sessions.argon()), Valid: true}, nil
}

// pruneSessions deletes ended sessions, spent links, old failures and
// change stream rows older than any stream reads (an hour).
func (o *Operator) pruneSessions(ctx context.Context) {
	c := o.cfg.Sessions
	_, err1 := o.store.DeleteExpiredSessions(ctx, c.Idle.Seconds())
	_, err2 := o.store.DeleteOldSignInLinks(ctx)
	_, err3 := o.store.DeleteOldSignInFailures(ctx, c.FailureWindow.Seconds())
	_, err4 := o.store.DeleteOldGitHubOAuthStates(ctx)
	o.pruneBatches(ctx, "change stream", func(batch int32) (int64, error) {
		return o.store.PruneChanges(ctx, db.PruneChangesParams{KeepSeconds: time.Hour.Seconds(), Batch: batch})
	})
	if err := errors.Join(err1, err2, err3, err4); err != nil && ctx.Err() == nil {
		o.log.Warn("prune sessions", "err", err)
	}
}
