package operator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Bounds of a join token's life: long enough to set up a machine, short
// enough that a token left in a shell history is soon worthless.
const (
	defaultJoinTTL = time.Hour
	maxJoinTTL     = 7 * 24 * time.Hour
)

// createJoinToken is POST /v1/nodes/join-tokens.
func (o *Operator) createJoinToken(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateJoinTokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if req.TTLSeconds == 0 {
		ttl = defaultJoinTTL
	}
	if ttl <= 0 || ttl > maxJoinTTL {
		return invalid("give --ttl between 1s and 168h", "invalid ttl %ds", req.TTLSeconds)
	}
	if req.Role == "" {
		req.Role = pki.RoleNode
	}
	if req.Role != pki.RoleNode && req.Role != pki.RoleEdge {
		return invalid("give --role node or --role edge", "invalid role %q", req.Role)
	}
	p := principalFrom(r.Context())
	by := p.kind
	if p.userID != uuid.Nil {
		by = "user " + p.userID.String()
	}
	jt, err := o.CreateJoinToken(r.Context(), req.Role, ttl, by)
	if err != nil {
		return err
	}
	auditFrom(r.Context()).setObject("join_token", jt.ID)
	writeJSON(w, http.StatusCreated, jt)
	return nil
}

// CreateJoinToken makes a single-use token that lets one host of the role
// ("node" or "edge") enrol before ttl passes. Only its hash is stored; the
// token ends in the CA's pin.
func (o *Operator) CreateJoinToken(ctx context.Context, role string, ttl time.Duration, createdBy string) (api.JoinToken, error) {
	ca, err := o.CA(ctx)
	if err != nil {
		return api.JoinToken{}, err
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := "zwj_" + base64.RawURLEncoding.EncodeToString(b) + "." + ca.Pin()
	row, err := o.store.CreateJoinToken(ctx, db.CreateJoinTokenParams{
		ID: uuid.New(), Role: role, TokenHash: hashToken(token), CreatedBy: createdBy,
		ExpiresAt: time.Now().Add(ttl),
	})
	if err != nil {
		return api.JoinToken{}, err
	}
	return api.JoinToken{ID: row.ID.String(), Role: row.Role, Token: token, ExpiresAt: row.ExpiresAt}, nil
}

var errJoinToken = &apiError{http.StatusUnauthorized, "invalid join token",
	"make a new one with `zeitwork nodes join-token` (each enrols one host, once)"}

// spendJoinToken uses up the request's join token for a host of role,
// which gets the credential usedBy; in q's transaction, so that a failed
// enrolment leaves the token unspent.
func spendJoinToken(ctx context.Context, q *db.Queries, token, role string, usedBy uuid.UUID) error {
	if token == "" {
		return errJoinToken
	}
	jt, err := q.GetJoinTokenByHash(ctx, hashToken(token))
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return errJoinToken
		}
		return err
	}
	switch {
	case jt.Role != role:
		return &apiError{http.StatusUnauthorized, "this join token is for a " + jt.Role + ", not a " + role,
			"make one with `zeitwork nodes join-token --role " + role + "`"}
	case jt.UsedAt != nil:
		return &apiError{http.StatusUnauthorized, "this join token was used already, at " + jt.UsedAt.UTC().Format(time.RFC3339),
			"a join token enrols one host once: make a new one with `zeitwork nodes join-token`"}
	case !time.Now().Before(jt.ExpiresAt):
		return &apiError{http.StatusUnauthorized, "this join token expired at " + jt.ExpiresAt.UTC().Format(time.RFC3339),
			"make a new one with `zeitwork nodes join-token`"}
	}
	n, err := q.UseJoinToken(ctx, db.UseJoinTokenParams{ID: jt.ID, UsedBy: uuid.NullUUID{UUID: usedBy, Valid: true}})
	if err != nil {
		return err
	}
	if n != 1 {
		// The database's clock says it expired.
		return errJoinToken
	}
	return nil
}
