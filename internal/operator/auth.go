package operator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
)

// principal is who made a request.
type principal struct {
	kind    string
	tokenID uuid.UUID
	userID  uuid.UUID
	orgID   uuid.UUID
	nodeID  uuid.UUID
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
	if tok == "" {
		return principal{}, errUnauthorized
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(o.internalToken)) == 1 {
		return principal{kind: "internal"}, nil
	}
	if org, ok := o.builds.pushOrg(tok); ok {
		return principal{kind: kindBuild, orgID: org}, nil
	}
	row, err := o.store.GetAPITokenByHash(r.Context(), hashToken(tok))
	if err != nil {
		if errors.Is(store.Classify(err), store.ErrNotFound) {
			return principal{}, errUnauthorized
		}
		return principal{}, err
	}
	p := principal{kind: row.Kind, tokenID: row.ID}
	if row.UserID.Valid {
		p.userID = row.UserID.UUID
	}
	if row.OrganisationID.Valid {
		p.orgID = row.OrganisationID.UUID
	}
	if row.NodeID.Valid {
		p.nodeID = row.NodeID.UUID
	}
	return p, nil
}

// require wraps a handler so that only the given token kinds reach it.
func (o *Operator) require(kinds []string, h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := o.authenticate(r)
		if err != nil {
			o.writeError(w, r, err)
			return
		}
		auditFrom(r.Context()).setActor(actorOf(p))
		allowed := p.kind == "internal"
		for _, k := range kinds {
			allowed = allowed || p.kind == k
		}
		if !allowed {
			o.writeError(w, r, &apiError{http.StatusForbidden, "this token may not use " + r.URL.Path, "use a token of the right kind"})
			return
		}
		if err := h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p))); err != nil {
			o.writeError(w, r, err)
		}
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
			if u, err = q.CreateUser(ctx, db.CreateUserParams{ID: uuid.New(), OrganisationID: o.ID, Email: email}); err != nil {
				return err
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
