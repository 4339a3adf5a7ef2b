package operator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Token kinds.
const (
	kindUser = "user"
	kindNode = "node"
	kindEdge = "edge"
	// kindBuild is a running build's push credential: it may use the
	// registry like a user of the build's organisation, nothing else.
	kindBuild = "build"
	// kindInternal is the operator's own token (pre-receive hook and
	// replicas): it passes every check.
	kindInternal = "internal"
	// kindAdmin is the operator's admin token (Config.AdminToken): it may
	// only use the installation administrators' routes.
	kindAdmin = "admin"
)

// principal is who made a request, resolved once by authenticate: the
// actor that roles are checked against (roles.go) and that a record of the
// request (the audit log) names.
type principal struct {
	kind      string
	tokenID   uuid.UUID // the API token, for user, node and edge tokens
	tokenName string
	userID    uuid.UUID
	// orgID is the organisation the request acts in: the token's, the one
	// the request names (api.OrganisationHeader), or the user's first.
	orgID   uuid.UUID
	orgName string
	// role is the user's role in orgID, capped by the token's role;
	// roleNone if the user is no member of any organisation.
	role role
	// installAdmin: an installation administrator's token without a role or
	// project limit, or the admin token.
	installAdmin bool
	// projects, if not empty, are the only projects the token may act on.
	projects []uuid.UUID
	// limited: the token has an organisation, role or project limit.
	limited bool
	// expiresAt is when the token expires, nil if never.
	expiresAt *time.Time
	// orgFixed: the token or the request named the organisation; else
	// the registry and git remote may act in a project's (inProjectOrg).
	orgFixed bool
	// roleCap is the token's role limit (roleOwner if none).
	roleCap role
	nodeID  uuid.UUID
	// addr is the client's address (RemoteAddr's host).
	addr string
	// sessionID is the browser session the request came with (sessions.go),
	// uuid.Nil for a bearer token; sessionEnds is when it ends if unused.
	sessionID   uuid.UUID
	sessionEnds time.Time
}

// ends is when p's credential ends unless renewed: a token's expiry, a
// session's idle or absolute end; zero if never.
func (p principal) ends() time.Time {
	if p.expiresAt != nil {
		return *p.expiresAt
	}
	return p.sessionEnds
}

// mayUseProject reports whether the token may act on the project, which
// the caller has already found in p's organisation.
func (p principal) mayUseProject(id uuid.UUID) bool {
	return len(p.projects) == 0 || slices.Contains(p.projects, id)
}

type principalKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// NewToken returns a fresh token and the hash to store.
func NewToken() (token string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	token = "zw_" + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	// The registry's clients send the token as a basic-auth password.
	if _, pw, ok := r.BasicAuth(); ok {
		return pw
	}
	return ""
}

var errUnauthorized = &apiError{http.StatusUnauthorized, "missing or invalid API token", "run `zeitwork login` with a valid token"}

// authenticate resolves the request's token to a principal.
func (o *Operator) authenticate(r *http.Request) (principal, error) {
	tok := bearer(r)
	addr, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		addr = r.RemoteAddr
	}
	if tok == "" {
		// A browser's session cookie; a bearer token wins over it.
		if c, err := r.Cookie(api.SessionCookie); err == nil && c.Value != "" {
			return o.sessionPrincipal(r, c.Value, addr)
		}
		return principal{}, errUnauthorized
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(o.internalToken)) == 1 {
		return principal{kind: kindInternal, addr: addr}, nil
	}
	if o.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(o.cfg.AdminToken)) == 1 {
		return principal{kind: kindAdmin, installAdmin: true, addr: addr}, nil
	}
	if org, ok := o.builds.pushOrg(tok); ok {
		return principal{kind: kindBuild, orgID: org, role: roleDeveloper, addr: addr}, nil
	}
	if strings.HasPrefix(tok, "zwb_") {
		// A build another replica runs, pushing through this one.
		org, err := o.store.GetBuildPushOrg(r.Context(), hashToken(tok))
		if errors.Is(store.Classify(err), store.ErrNotFound) {
			return principal{}, errUnauthorized
		}
		if err != nil {
			return principal{}, err
		}
		return principal{kind: kindBuild, orgID: org, role: roleDeveloper, addr: addr}, nil
	}
	row, err := o.store.GetAPITokenByHash(r.Context(), hashToken(tok))
	if err != nil {
		if errors.Is(store.Classify(err), store.ErrNotFound) {
			return principal{}, errUnauthorized
		}
		return principal{}, err
	}
	p := principal{kind: row.Kind, tokenID: row.ID, tokenName: row.Name, addr: addr}
	if row.NodeID.Valid {
		p.nodeID = row.NodeID.UUID
	}
	if row.Kind == kindEdge && row.RevokedAt != nil {
		return p, &apiError{http.StatusUnauthorized, "this edge was removed",
			"enrol the edge again with a new edge join token (`zeitwork nodes join-token --role edge`)"}
	}
	if row.Kind != kindUser {
		return p, nil
	}
	return o.userPrincipal(r, row, p)
}

// userPrincipal checks a user token's life and finds the organisation the
// request acts in and the role it has there. It reads the membership on
// every request, so a removed member or a lowered role takes effect at once.
func (o *Operator) userPrincipal(r *http.Request, row db.GetAPITokenByHashRow, p principal) (principal, error) {
	ctx := r.Context()
	now := time.Now()
	switch {
	case row.RevokedAt != nil:
		return p, &apiError{http.StatusUnauthorized, "this API token was revoked", "log in again or create a new token"}
	case row.ExpiresAt != nil && !now.Before(*row.ExpiresAt):
		return p, &apiError{http.StatusUnauthorized, "this API token expired at " + row.ExpiresAt.UTC().Format(time.RFC3339),
			"create a new token with `zeitwork tokens create`"}
	}
	p.userID = row.UserID.UUID
	p.projects = row.ProjectIds
	p.limited = row.OrganisationID.Valid || row.Role.Valid || len(row.ProjectIds) > 0
	p.installAdmin = row.InstallationAdmin && !p.limited
	p.expiresAt = row.ExpiresAt
	p.roleCap = roleOwner
	if row.Role.Valid {
		p.roleCap = parseRole(row.Role.String)
	}
	if o.touches.due(row.ID, p.addr, now) {
		if err := o.store.TouchUserToken(ctx, db.TouchUserTokenParams{ID: row.ID, LastUsedAddr: p.addr}); err != nil {
			return p, err
		}
	}
	return o.inOrganisation(r, p, row.OrganisationID)
}

// inOrganisation finds the organisation a user's request acts in (the
// token's own, tokenOrg, if it has one; else the one the request names;
// else the user's first) and the role p has there.
func (o *Operator) inOrganisation(r *http.Request, p principal, tokenOrg uuid.NullUUID) (principal, error) {
	ctx := r.Context()
	named := streamOrganisation(r)
	var m db.GetMemberOrganisationRow
	var err error
	switch {
	case tokenOrg.Valid:
		m, err = o.store.GetMemberOrganisation(ctx, db.GetMemberOrganisationParams{UserID: p.userID, ID: tokenOrg})
		if err != nil {
			if isNotFound(store.Classify(err)) {
				// Removing a member revokes such tokens; this is a second lock.
				return p, errUnauthorized
			}
			return p, err
		}
		if named != "" && named != m.Name {
			return p, &apiError{http.StatusForbidden, fmt.Sprintf("this token is for organisation %s, not %s", m.Name, named),
				"use a token of that organisation or drop --org"}
		}
	case named != "":
		m, err = o.store.GetMemberOrganisation(ctx, db.GetMemberOrganisationParams{UserID: p.userID, Name: pgtype.Text{String: named, Valid: true}})
		if err != nil {
			return p, notMember(named, err)
		}
	default:
		first, err := o.store.FirstMemberOrganisation(ctx, p.userID)
		if err != nil {
			if isNotFound(store.Classify(err)) {
				return p, nil // no organisation: only the routes for any user
			}
			return p, err
		}
		m = db.GetMemberOrganisationRow(first)
	}
	p.orgID, p.orgName, p.role = m.ID, m.Name, min(parseRole(m.Role), p.roleCap)
	p.orgFixed = tokenOrg.Valid || named != ""
	return p, nil
}

// streamOrganisation is the organisation the request names: its
// api.OrganisationHeader, or for the change stream (GET /v1/stream) the
// "org" query parameter, since a browser's EventSource cannot send headers.
func streamOrganisation(r *http.Request) string {
	if named := r.Header.Get(api.OrganisationHeader); named != "" {
		return named
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/stream" {
		return r.URL.Query().Get("org")
	}
	return ""
}

// inProjectOrg is p acting in the organisation of the named project, for
// clients that cannot name an organisation (registry, git): a user token
// not tied to one organisation takes the user's role there. Otherwise,
// and for unknown projects, p is unchanged (and the caller's checks of
// p's organisation refuse the project).
func (o *Operator) inProjectOrg(ctx context.Context, p principal, project string) (principal, error) {
	if p.kind != kindUser || p.orgFixed {
		return p, nil
	}
	pr, err := o.store.GetProjectByNameAnyOrganisation(ctx, project)
	if err != nil || pr.OrganisationID == p.orgID {
		if err != nil && !isNotFound(store.Classify(err)) {
			return p, err
		}
		return p, nil
	}
	m, err := o.store.GetMemberOrganisation(ctx, db.GetMemberOrganisationParams{UserID: p.userID, ID: uuid.NullUUID{UUID: pr.OrganisationID, Valid: true}})
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return p, nil
		}
		return p, err
	}
	p.orgID, p.orgName, p.role = m.ID, m.Name, min(parseRole(m.Role), p.roleCap)
	return p, nil
}

// notMember answers alike whether the organisation exists or not.
func notMember(org string, err error) error {
	if err != nil && !isNotFound(store.Classify(err)) {
		return err
	}
	return &apiError{http.StatusForbidden, fmt.Sprintf("you are not a member of organisation %q", org),
		"list yours with `zeitwork orgs list`, or ask one of its owners for an invitation"}
}

// require wraps a handler so that only callers the need allows reach it.
func (o *Operator) require(n need, h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, changed := o.hub.Version()
		p, err := o.authenticate(r)
		if err != nil {
			o.writeError(w, r, err)
			return
		}
		auditFrom(r.Context()).setActor(actorOf(p))
		// p is the request's actor from here on, allowed or not.
		if err := p.allow(n); err != nil {
			o.writeError(w, r, err)
			return
		}
		ctx, cancel := context.WithCancel(context.WithValue(r.Context(), principalKey{}, p))
		defer cancel()
		if p.kind == kindUser || p.kind == kindNode || p.kind == kindEdge {
			go o.endOnLostAccess(ctx, cancel, r, n, p, changed)
		}
		if err := h(w, r.WithContext(ctx)); err != nil {
			o.writeError(w, r, err)
		}
	}
}

// endOnLostAccess ends a long request (a log stream, a node's long-poll)
// once its token is revoked or expires, the member is removed or loses the
// role the route needs, or the node is removed: the change wakes the hub (a
// trigger on memberships, api_tokens and nodes), and the request's token is
// checked again. Requests shorter than a second are left alone.
func (o *Operator) endOnLostAccess(ctx context.Context, cancel context.CancelFunc, r *http.Request, n need, p principal, changed <-chan struct{}) {
	long := time.NewTimer(time.Second)
	defer long.Stop()
	select {
	case <-ctx.Done():
		return
	case <-long.C:
	}
	// expiry fires when the credential ends unless renewed (never: nil).
	var expiry <-chan time.Time
	var timer *time.Timer
	setExpiry := func(q principal) {
		if timer != nil {
			timer.Stop()
		}
		if end := q.ends(); !end.IsZero() {
			timer = time.NewTimer(time.Until(end))
			expiry = timer.C
		}
	}
	setExpiry(p)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-expiry:
		}
		_, changed = o.hub.Version()
		q, err := o.authenticate(r.WithContext(ctx))
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = q.allow(n)
		}
		var refused *apiError
		if errors.As(err, &refused) || err == nil && q.orgID != p.orgID {
			cancel()
			return
		}
		if err == nil {
			setExpiry(q) // a session's idle end moves with its use
		}
		// Another error (the database's) leaves the request running.
	}
}

// Bootstrap creates the organisation, user and token of a new installation
// if no user with that email exists yet, and returns a new token for it.
func Bootstrap(ctx context.Context, s *store.Store, org, email string) (string, error) {
	token, hash := NewToken()
	err := s.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
		u, err := q.GetUserByEmail(ctx, email)
		if err != nil {
			if !errors.Is(store.Classify(err), store.ErrNotFound) {
				return err
			}
			o, err := q.GetOrganisationByName(ctx, org)
			if err != nil {
				if o, err = q.CreateOrganisation(ctx, db.CreateOrganisationParams{ID: uuid.New(), Name: org}); err != nil {
					return err
				}
			}
			if u, err = q.CreateUser(ctx, db.CreateUserParams{ID: uuid.New(), OrganisationID: uuid.NullUUID{UUID: o.ID, Valid: true}, Email: email}); err != nil {
				return err
			}
			if _, err = q.AddMembership(ctx, db.AddMembershipParams{OrganisationID: o.ID, UserID: u.ID, Role: roleOwner.String()}); err != nil {
				return err
			}
			// The first user administers the installation.
			n, err := q.CountUsers(ctx)
			if err != nil {
				return err
			}
			if n == 1 {
				if err = q.SetInstallationAdmin(ctx, db.SetInstallationAdminParams{ID: u.ID, InstallationAdmin: true}); err != nil {
					return err
				}
			}
		}
		_, err = q.CreateAPIToken(ctx, db.CreateAPITokenParams{
			ID: uuid.New(), Kind: kindUser, UserID: uuid.NullUUID{UUID: u.ID, Valid: true}, Name: "bootstrap", TokenHash: hash,
		})
		return err
	})
	return token, err
}

// CreateEdgeToken makes a token an edge uses to read routes.
func CreateEdgeToken(ctx context.Context, s *store.Store, name string) (string, error) {
	token, hash := NewToken()
	_, err := s.CreateAPIToken(ctx, db.CreateAPITokenParams{ID: uuid.New(), Kind: kindEdge, Name: name, TokenHash: hash})
	return token, err
}
