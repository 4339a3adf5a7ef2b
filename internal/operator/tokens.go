package operator

import (
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// API tokens last 90 days unless their creator says otherwise ("never" for
// no expiry).
const (
	tokenTTL    = 90 * 24 * time.Hour
	tokenMaxTTL = 10 * 365 * 24 * time.Hour
)

// createToken makes a token of the caller for the request's organisation,
// with at most the caller's role and at most the calling token's life.
func (o *Operator) createToken(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	var req api.CreateTokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 64 || strings.ContainsFunc(req.Name, unicode.IsControl) {
		// Others read it (the audit log names the token of each change):
		// no control characters to break their tables or drive their
		// terminals.
		return invalid("name the token after its use, e.g. ci-deploy", "a token needs a name of 1 to 64 characters, none of them control characters")
	}
	role := p.role
	if req.Role != "" {
		var err error
		if role, err = validRole(req.Role); err != nil {
			return err
		}
		if role > p.role {
			return &apiError{http.StatusForbidden, "a token may not have a role above yours (" + p.role.String() + ")", "choose a lower role"}
		}
	}
	var expires *time.Time
	if req.ExpiresIn != "never" {
		ttl, err := parseTTL(req.ExpiresIn, tokenTTL, tokenMaxTTL)
		if err != nil {
			return err
		}
		t := time.Now().Add(ttl)
		expires = &t
	}
	if p.expiresAt != nil && (expires == nil || expires.After(*p.expiresAt)) {
		expires = p.expiresAt // a token cannot outlive the one that made it
	}
	projects := []uuid.UUID{}
	for _, name := range req.Projects {
		pr, err := o.store.GetProjectByName(r.Context(), db.GetProjectByNameParams{OrganisationID: p.orgID, Name: name})
		if err != nil {
			if isNotFound(store.Classify(err)) {
				return notFound("list projects with `zeitwork projects list`", "project %q not found", name)
			}
			return err
		}
		projects = append(projects, pr.ID)
	}
	secret, hash := NewToken()
	t, err := o.store.CreateUserToken(r.Context(), db.CreateUserTokenParams{
		ID: uuid.New(), UserID: uuid.NullUUID{UUID: p.userID, Valid: true}, Name: req.Name, TokenHash: hash,
		OrganisationID: uuid.NullUUID{UUID: p.orgID, Valid: true}, Role: pgtype.Text{String: role.String(), Valid: true},
		ProjectIds: projects, ExpiresAt: expires,
	})
	if err != nil {
		return err
	}
	auditFrom(r.Context()).setObject("token", req.Name)
	writeJSON(w, http.StatusCreated, api.Token{
		ID: t.ID.String(), Name: t.Name, Organisation: p.orgName, Role: role.String(), Projects: req.Projects,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, Secret: secret,
	})
	return nil
}

// listTokens lists the caller's own tokens, revoked ones included.
func (o *Operator) listTokens(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	rows, err := o.store.ListUserTokens(r.Context(), uuid.NullUUID{UUID: p.userID, Valid: true})
	if err != nil {
		return err
	}
	out := []api.Token{}
	for _, t := range rows {
		tok := api.Token{
			ID: t.ID.String(), Name: t.Name, Organisation: t.Organisation.String, Role: t.Role.String,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, LastUsedAt: t.LastUsedAt, LastUsedAddr: t.LastUsedAddr,
		}
		if len(t.ProjectIds) > 0 {
			names, err := o.store.ProjectNames(r.Context(), t.ProjectIds)
			if err != nil {
				return err
			}
			for _, n := range names {
				tok.Projects = append(tok.Projects, n.Name)
			}
		}
		out = append(out, tok)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeToken revokes one of the caller's tokens, by id or by name. It is
// refused from the next request on (authenticate reads revoked_at).
func (o *Operator) revokeToken(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	ref := r.PathValue("token")
	user := uuid.NullUUID{UUID: p.userID, Valid: true}
	id, err := uuid.Parse(ref)
	if err != nil {
		rows, err := o.store.ListUserTokens(r.Context(), user)
		if err != nil {
			return err
		}
		found := 0
		for _, t := range rows {
			if t.Name == ref && t.RevokedAt == nil {
				id = t.ID
				found++
			}
		}
		if found > 1 {
			return conflict("revoke it by id (`zeitwork tokens list` shows the ids)", "%d tokens are named %q", found, ref)
		}
	}
	n, err := o.store.RevokeUserToken(r.Context(), db.RevokeUserTokenParams{UserID: user, ID: id})
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("list your tokens with `zeitwork tokens list`", "no token %q of yours to revoke", ref)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokenTouches remembers when this replica last recorded a token's use and
// from where, so that a token's requests write its last use at most once a
// minute per address instead of on every request.
type tokenTouches struct {
	mu   sync.Mutex
	last map[uuid.UUID]touch
}

type touch struct {
	at   time.Time
	addr string
}

// due reports whether the use of token from addr is worth recording now.
func (t *tokenTouches) due(token uuid.UUID, addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.last[token]; ok && prev.addr == addr && now.Sub(prev.at) < time.Minute {
		return false
	}
	if t.last == nil || len(t.last) > 10000 {
		t.last = map[uuid.UUID]touch{} // forget, rather than grow without end
	}
	t.last[token] = touch{now, addr}
	return true
}
