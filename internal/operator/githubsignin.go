package operator

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Sign-in with GitHub (docs/security.md, "Sign-in with GitHub"): the
// App's OAuth web flow. start binds a random state to the browser (a
// cookie) and to the operator (a row, with the invitation being
// accepted); the callback needs both, spends the row, trades the code
// for the user's token and finds the Zeitwork user: the one linked to
// that GitHub account, or the one whose address is a verified address of
// the account, or the invitation's. It never creates a user without an
// invitation.

const (
	githubStateCookie = "zw_github_state"
	githubStatePath   = "/v1/github/oauth"
	githubStateTTL    = 10 * time.Minute
	// githubMaxPending bounds the sign-ins one client address may have
	// under way (starting one needs no credential).
	githubMaxPending = 20
	sealGitHubClient = "github-app/client-secret"
	sealGitHubToken  = "github-user/token"
)

var errNoGitHubSignIn = &apiError{http.StatusServiceUnavailable, "sign-in with GitHub is not configured on this operator",
	"the operator's admin stores the App's client ID and secret (`zeitwork github setup --client-id ... --client-secret ...`)"}

// githubSignInApp is the stored App when it has an OAuth client, or
// errNoGitHubSignIn.
func (o *Operator) githubSignInApp(ctx context.Context) (db.GithubApp, error) {
	row, err := o.store.GetGitHubApp(ctx)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return row, errNoGitHubSignIn
		}
		return row, err
	}
	if row.ClientID == "" || row.ClientSecretSealed == nil {
		return row, errNoGitHubSignIn
	}
	return row, nil
}

// githubOAuth is the App's OAuth client, or errNoGitHubSignIn.
func (o *Operator) githubOAuth(ctx context.Context) (*github.OAuth, error) {
	row, err := o.githubSignInApp(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := o.cfg.Sealer.Open(row.ClientSecretSealed, sealGitHubClient)
	if err != nil {
		return nil, fmt.Errorf("open github client secret: %w", err)
	}
	return &github.OAuth{Web: strings.TrimRight(row.WebUrl, "/"), API: row.ApiUrl, ClientID: row.ClientID,
		ClientSecret: string(secret), HTTP: o.cfg.GitHubClient}, nil
}

// githubCallbackURL is the App's callback URL: the public URL's, or the
// request's own origin when none is set (GitHub accepts only the
// callback URLs the App lists, so a forged Host only breaks the flow).
func (o *Operator) githubCallbackURL(r *http.Request) string {
	base := o.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimRight(base, "/") + githubStatePath + "/callback"
}

// signInMethods tells the sign-in and invitation pages which buttons to
// show.
func (o *Operator) signInMethods(w http.ResponseWriter, r *http.Request) error {
	out := api.SignInMethods{Password: true}
	// Only whether the client is stored: the public sign-in page asks on
	// every load, and the secret is opened when a sign-in starts.
	if _, err := o.githubSignInApp(r.Context()); err == nil {
		out.GitHub, out.GitHubURL = true, githubStatePath+"/start"
	} else if !errors.Is(err, errNoGitHubSignIn) {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// githubSignInStart sends the browser to GitHub to authorize the App,
// with ?invitation=TOKEN to accept an invitation on the way back.
func (o *Operator) githubSignInStart(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := o.githubOAuth(ctx)
	if err != nil {
		if errors.Is(err, errNoGitHubSignIn) {
			githubFailed(w, &githubFailure{status: http.StatusServiceUnavailable, code: "not_configured"})
			return nil
		}
		return err
	}
	state := randomSecret()
	var inv []byte
	if t := strings.TrimSpace(r.URL.Query().Get("invitation")); t != "" {
		inv = hashToken(t)
	}
	n, err := o.store.CreateGitHubOAuthState(ctx, db.CreateGitHubOAuthStateParams{
		StateHash: hashToken(state), InvitationHash: inv, ClientAddr: clientAddr(r),
		ExpiresAt: time.Now().Add(githubStateTTL), MaxPending: githubMaxPending,
	})
	if err != nil {
		return err
	}
	if n == 0 {
		githubFailed(w, &githubFailure{status: http.StatusTooManyRequests, code: "rate_limited"})
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: githubStateCookie, Value: state, Path: githubStatePath,
		MaxAge: int(githubStateTTL.Seconds()), HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, c.AuthorizeURL(o.githubCallbackURL(r), state), http.StatusFound)
	return nil
}

// githubFailure is a sign-in with GitHub that did not happen: the
// dashboard's sign-in page explains code (web/utils/github.ts).
type githubFailure struct {
	status int
	code   string
	login  string // the GitHub account, where known
	detail string // for the audit log and the operator's log only
}

func (f *githubFailure) Error() string {
	return strings.TrimSpace(fmt.Sprintf("github sign-in: %s %s %s", f.code, f.login, f.detail))
}

// githubSignInCallback is where GitHub sends the browser back.
func (o *Operator) githubSignInCallback(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: githubStateCookie, Value: "", Path: githubStatePath, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	next, err := o.githubSignIn(w, r)
	var f *githubFailure
	switch {
	case errors.As(err, &f):
		auditFrom(r.Context()).setError(f.Error())
		githubFailed(w, f)
		return nil
	case err != nil:
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusTooManyRequests {
			githubFailed(w, &githubFailure{status: ae.status, code: "rate_limited"})
			return nil
		}
		o.log.Error("sign-in with github", "err", err)
		auditFrom(r.Context()).setError(err.Error())
		githubFailed(w, &githubFailure{status: http.StatusBadGateway, code: "failed"})
		return nil
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// githubSignIn checks the callback and starts the session; it answers
// where the dashboard continues.
func (o *Operator) githubSignIn(w http.ResponseWriter, r *http.Request) (string, error) {
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	sum := hashToken(state)
	// Every callback counts against the client until it succeeds.
	key := "github:" + hex.EncodeToString(sum[:8])
	if _, err := o.reserveSignIn(ctx, w, key, clientAddr(r)); err != nil {
		return "", err
	}
	c, err := r.Cookie(githubStateCookie)
	if state == "" || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		return "", &githubFailure{status: http.StatusForbidden, code: "state", detail: "state does not match this browser's"}
	}
	st, err := o.store.TakeGitHubOAuthState(ctx, sum)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return "", &githubFailure{status: http.StatusForbidden, code: "state", detail: "state unknown, used or expired"}
		}
		return "", err
	}
	if e := q.Get("error"); e != "" {
		return "", &githubFailure{status: http.StatusForbidden, code: "denied", detail: auditText(e, 100)}
	}
	oc, err := o.githubOAuth(ctx)
	if err != nil {
		return "", err
	}
	tok, err := oc.Exchange(ctx, q.Get("code"), o.githubCallbackURL(r))
	if err != nil {
		return "", &githubFailure{status: http.StatusUnauthorized, code: "failed", detail: err.Error()}
	}
	gu, err := oc.User(ctx, tok.Token)
	if err != nil {
		return "", err
	}
	emails, err := oc.Emails(ctx, tok.Token)
	if err != nil {
		return "", err
	}
	u, org, err := o.githubAccount(ctx, r, st, gu, verifiedEmails(emails))
	if err != nil {
		return "", err
	}
	if err := o.keepGitHubToken(ctx, u.ID, gu.Login, tok); err != nil {
		return "", err
	}
	if err := o.store.ClearSignInFailures(ctx, key); err != nil {
		return "", err
	}
	if _, err := o.newSession(w, r, u); err != nil {
		return "", err
	}
	if org != "" {
		return "/?joined=" + url.QueryEscape(org), nil
	}
	return "/", nil
}

// verifiedEmails are the addresses GitHub verified, lower-cased: only
// they prove that the account's owner owns the address.
func verifiedEmails(all []github.Email) []string {
	var out []string
	for _, e := range all {
		if e.Verified && e.Email != "" {
			out = append(out, strings.ToLower(strings.TrimSpace(e.Email)))
		}
	}
	return out
}

// keepGitHubToken stores the user's GitHub token and its refresh token,
// sealed, to list the repositories the App reaches for them.
func (o *Operator) keepGitHubToken(ctx context.Context, user uuid.UUID, login string, t github.UserToken) error {
	return o.store.SetGitHubIdentityToken(ctx, o.githubTokenParams(user, login, t))
}

// githubLogin is GitHub's account name syntax: only such a login is
// put into the address the browser is sent to.
var githubLogin = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}$`)

// githubFailed answers a failed sign-in with its status (the audit log
// records it) and a page that sends the browser on to the dashboard's
// sign-in page, which explains it.
func githubFailed(w http.ResponseWriter, f *githubFailure) {
	v := url.Values{"github_error": {f.code}}
	if githubLogin.MatchString(f.login) {
		v.Set("github_login", f.login)
	}
	to := html.EscapeString("/signin?" + v.Encode())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(f.status)
	fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s"><title>Sign-in with GitHub</title><p>Sign-in with GitHub did not complete. <a href="%s">Back to sign-in</a></p>`, to, to)
}

// githubAccount finds (or, for an invitation, makes) the user the GitHub
// account signs in as, linking the account where it was not, and accepts
// the invitation of st; org is the organisation joined.
func (o *Operator) githubAccount(ctx context.Context, r *http.Request, st db.GithubOauthState, gu github.User, verified []string) (u db.User, org string, err error) {
	var link bool
	var inv db.GetInvitationByHashRow
	err = o.store.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
		u, link, err = githubLinked(ctx, q, gu, verified)
		if err != nil {
			return err
		}
		if st.InvitationHash != nil {
			if u, link, inv, err = o.githubInvitee(ctx, q, st.InvitationHash, gu, u, link, verified); err != nil {
				return err
			}
		}
		if u.ID == uuid.Nil {
			return &githubFailure{status: http.StatusForbidden, code: "no_account", login: gu.Login}
		}
		if link {
			return linkGitHub(ctx, q, u, gu)
		}
		return nil
	})
	if err != nil {
		return u, "", err
	}
	if link {
		o.auditExtra(ctx, r, db.InsertAuditEntryParams{UserID: nullUUID(u.ID), Action: "github.link", ObjectKind: "github_user", Object: gu.Login})
	}
	if inv.ID != uuid.Nil {
		o.auditExtra(ctx, r, db.InsertAuditEntryParams{UserID: nullUUID(u.ID), OrganisationID: nullUUID(inv.OrganisationID),
			Action: "invitation.accept", ObjectKind: "member", Object: inv.Email})
	}
	return u, inv.Organisation, nil
}

// githubLinked is the user linked to the account, or (link true) the one
// user whose address is one of the account's verified addresses and who
// has no GitHub account yet; a zero user when there is none.
func githubLinked(ctx context.Context, q *db.Queries, gu github.User, verified []string) (db.User, bool, error) {
	id, err := q.GetGitHubIdentityByGitHubID(ctx, gu.ID)
	if err == nil {
		u, err := q.GetUserByID(ctx, id.UserID)
		return u, false, err
	}
	if !isNotFound(store.Classify(err)) {
		return db.User{}, false, err
	}
	for _, e := range verified {
		u, err := q.GetUserByEmail(ctx, e)
		if isNotFound(store.Classify(err)) {
			continue
		}
		if err != nil {
			return db.User{}, false, err
		}
		if _, err := q.GetGitHubIdentity(ctx, u.ID); err == nil {
			return db.User{}, false, &githubFailure{status: http.StatusConflict, code: "taken", login: gu.Login,
				detail: u.Email + " is linked to another GitHub account"}
		} else if !isNotFound(store.Classify(err)) {
			return db.User{}, false, err
		}
		return u, true, nil
	}
	return db.User{}, false, nil
}

// linkGitHub links the account to u; both are unique, so of two
// sign-ins racing to link either one, one fails.
func linkGitHub(ctx context.Context, q *db.Queries, u db.User, gu github.User) error {
	if _, err := q.LinkGitHubIdentity(ctx, db.LinkGitHubIdentityParams{UserID: u.ID, GithubID: gu.ID, Login: gu.Login}); err != nil {
		if isConflict(store.Classify(err)) {
			return &githubFailure{status: http.StatusConflict, code: "taken", login: gu.Login, detail: "linked meanwhile"}
		}
		return err
	}
	return nil
}

// auditExtra records what a sign-in with GitHub did besides signing in
// (linking the account, accepting an invitation) as entries of their
// own, next to the request's; the user is their actor.
func (o *Operator) auditExtra(ctx context.Context, r *http.Request, e db.InsertAuditEntryParams) {
	e.ActorKind, e.Object = kindUser, auditText(e.Object, 200)
	e.Method, e.Path, e.ClientAddr, e.Status = auditText(r.Method, 20), auditText(r.URL.Path, 1000), clientAddr(r), http.StatusOK
	if err := o.store.InsertAuditEntry(context.WithoutCancel(ctx), e); err != nil {
		o.metrics.auditFailed.Inc()
		o.log.Error("audit log write failed", "err", err, "action", e.Action, "user", e.UserID.UUID)
	}
}
