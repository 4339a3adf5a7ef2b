package operator

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// githubInvitee accepts the invitation of hash for the GitHub account,
// with the rules of a password acceptance: the invitation's address
// names the user. An existing user is the account's only if it is linked
// to it or the address is verified on it; without a user of that address
// the invitation (its token is the credential) makes one, linked.
func (o *Operator) githubInvitee(ctx context.Context, q *db.Queries, hash []byte, gu github.User, u db.User, link bool, verified []string) (db.User, bool, db.GetInvitationByHashRow, error) {
	var none db.GetInvitationByHashRow
	inv, err := q.GetInvitationByHash(ctx, hash)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return u, false, none, &githubFailure{status: http.StatusNotFound, code: "invitation", login: gu.Login, detail: "no such invitation"}
		}
		return u, false, none, err
	}
	if inv.AcceptedAt != nil || !time.Now().Before(inv.ExpiresAt) {
		return u, false, none, &githubFailure{status: http.StatusGone, code: "invitation", login: gu.Login, detail: "invitation used or expired"}
	}
	owner, err := q.GetUserByEmail(ctx, inv.Email)
	switch {
	case err == nil:
		if u.ID != owner.ID && !hasString(verified, inv.Email) {
			return u, false, none, &githubFailure{status: http.StatusForbidden, code: "invitation_other", login: gu.Login,
				detail: "the invitation is for " + inv.Email}
		}
		if u.ID != owner.ID { // linked elsewhere, or not linked
			if u.ID != uuid.Nil && !link {
				return u, false, none, &githubFailure{status: http.StatusConflict, code: "taken", login: gu.Login,
					detail: "the account signs in as " + u.Email}
			}
			if _, err := q.GetGitHubIdentity(ctx, owner.ID); err == nil {
				return u, false, none, &githubFailure{status: http.StatusConflict, code: "taken", login: gu.Login,
					detail: owner.Email + " is linked to another GitHub account"}
			}
			u, link = owner, true
		}
	case isNotFound(store.Classify(err)):
		if u.ID != uuid.Nil && !link {
			return u, false, none, &githubFailure{status: http.StatusForbidden, code: "invitation_other", login: gu.Login,
				detail: "the invitation is for " + inv.Email + ", the account signs in as " + u.Email}
		}
		u, err = q.CreateUser(ctx, db.CreateUserParams{ID: uuid.New(), OrganisationID: uuid.NullUUID{UUID: inv.OrganisationID, Valid: true}, Email: inv.Email})
		if err != nil {
			return u, false, none, err
		}
		link = true
	default:
		return u, false, none, err
	}
	if _, err := spendInvitation(ctx, q, inv, u.ID); err != nil {
		if errors.Is(err, errInvitationUsed) {
			return u, false, none, &githubFailure{status: http.StatusGone, code: "invitation", login: gu.Login, detail: "invitation used"}
		}
		return u, false, none, err
	}
	return u, link, inv, nil
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
