package operator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/mail"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Invitations last a week unless the inviter says otherwise, and at most 30 days.
const (
	invitationTTL    = 7 * 24 * time.Hour
	invitationMaxTTL = 30 * 24 * time.Hour
)

func (o *Operator) listOrgs(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	rows, err := o.store.ListUserOrganisations(r.Context(), p.userID)
	if err != nil {
		return err
	}
	out := []api.Organisation{}
	for _, row := range rows {
		if (p.limited || p.orgFixed) && row.ID != p.orgID {
			continue // a token for one organisation shows only that one
		}
		out = append(out, api.Organisation{ID: row.ID.String(), Name: row.Name, Role: row.Role, CreatedAt: row.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createOrg makes an organisation whose only member, its owner, is the caller.
func (o *Operator) createOrg(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.limited {
		return &apiError{http.StatusForbidden, "a token limited to an organisation, role or projects may not create organisations",
			"use your login token"}
	}
	var req api.CreateOrganisationRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if !api.IsProjectName(req.Name) {
		return invalid("use 1 to 40 lower-case letters, digits and single hyphens, starting with a letter", "invalid organisation name %q", req.Name)
	}
	var org db.Organisation
	err := o.store.Tx(r.Context(), func(q *db.Queries, _ pgx.Tx) error {
		var err error
		if org, err = q.CreateOrganisation(r.Context(), db.CreateOrganisationParams{ID: uuid.New(), Name: req.Name}); err != nil {
			return err
		}
		_, err = q.AddMembership(r.Context(), db.AddMembershipParams{OrganisationID: org.ID, UserID: p.userID, Role: roleOwner.String()})
		return err
	})
	if err != nil {
		if isConflict(store.Classify(err)) {
			return conflict("choose another name", "an organisation named %q already exists", req.Name)
		}
		return err
	}
	// Recorded in the new organisation, whose first entry it is.
	rec := auditFrom(r.Context())
	rec.setObject("org", org.Name)
	rec.setOrg(org.ID)
	writeJSON(w, http.StatusCreated, api.Organisation{ID: org.ID.String(), Name: org.Name, Role: roleOwner.String(), CreatedAt: org.CreatedAt})
	return nil
}

func (o *Operator) listMembers(w http.ResponseWriter, r *http.Request) error {
	rows, err := o.store.ListMembers(r.Context(), principalFrom(r.Context()).orgID)
	if err != nil {
		return err
	}
	out := []api.Member{}
	for _, m := range rows {
		out = append(out, api.Member{Email: m.Email, Role: m.Role, InstallationAdmin: m.InstallationAdmin, Since: m.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var errNoMember = &apiError{http.StatusNotFound, "no such member", "list the members with `zeitwork members list`"}

// changeMember runs change on the {email} member's membership under the
// organisation's lock, then refuses to leave the organisation without an
// owner.
func (o *Operator) changeMember(r *http.Request, change func(q *db.Queries, user db.User) error) error {
	p := principalFrom(r.Context())
	ctx := r.Context()
	return o.store.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
		if _, err := q.LockOrganisation(ctx, p.orgID); err != nil {
			return err
		}
		u, err := q.GetUserByEmail(ctx, r.PathValue("email"))
		if err != nil {
			if isNotFound(store.Classify(err)) {
				return errNoMember
			}
			return err
		}
		if err := change(q, u); err != nil {
			return err
		}
		if n, err := q.CountOwners(ctx, p.orgID); err != nil || n == 0 {
			if err == nil {
				err = conflict("make another member owner first (`zeitwork members set-role EMAIL owner`)",
					"organisation %s would have no owner", p.orgName)
			}
			return err
		}
		return nil
	})
}

func (o *Operator) setMemberRole(w http.ResponseWriter, r *http.Request) error {
	var req api.SetRoleRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	newRole, err := validRole(req.Role)
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	err = o.changeMember(r, func(q *db.Queries, u db.User) error {
		n, err := q.SetMemberRole(r.Context(), db.SetMemberRoleParams{OrganisationID: p.orgID, UserID: u.ID, Role: newRole.String()})
		if err == nil && n == 0 {
			err = errNoMember
		}
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeMember ends the member's access to the organisation at once: the
// membership goes (every request reads it) and so do their tokens for it.
func (o *Operator) removeMember(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	err := o.changeMember(r, func(q *db.Queries, u db.User) error {
		n, err := q.RemoveMember(r.Context(), db.RemoveMemberParams{OrganisationID: p.orgID, UserID: u.ID})
		if err == nil && n == 0 {
			err = errNoMember
		}
		if err != nil {
			return err
		}
		_, err = q.RevokeMemberTokens(r.Context(), db.RevokeMemberTokensParams{UserID: uuid.NullUUID{UUID: u.ID, Valid: true},
			OrganisationID: uuid.NullUUID{UUID: p.orgID, Valid: true}})
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// validEmail is a loose check: the address is a name, never mailed by the
// operator itself.
func validEmail(s string) error {
	at := strings.IndexByte(s, '@')
	if at < 1 || at == len(s)-1 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;\"") {
		return invalid("give an e-mail address such as ada@example.com", "invalid e-mail address %q", s)
	}
	return nil
}

func (o *Operator) createInvitation(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	var req api.CreateInvitationRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	req.Email = strings.ToLower(strings.TrimSpace(req.Email))
	if err := validEmail(req.Email); err != nil {
		return err
	}
	role, err := validRole(req.Role)
	if err != nil {
		return err
	}
	if role > p.role {
		return &apiError{http.StatusForbidden, "you may not invite with a role above your own (" + p.role.String() + ")", "choose a lower role"}
	}
	ttl, err := parseTTL(req.ExpiresIn, invitationTTL, invitationMaxTTL)
	if err != nil {
		return err
	}
	token, _ := NewToken()
	token = "zwi_" + strings.TrimPrefix(token, "zw_")
	inv, err := o.store.CreateInvitation(r.Context(), db.CreateInvitationParams{
		ID: uuid.New(), OrganisationID: p.orgID, Email: req.Email, Role: role.String(), TokenHash: hashToken(token),
		InvitedBy: uuid.NullUUID{UUID: p.userID, Valid: p.userID != uuid.Nil}, ExpiresAt: time.Now().Add(ttl),
	})
	if err != nil {
		return err
	}
	auditFrom(r.Context()).setObject("member", inv.Email)
	out := api.Invitation{ID: inv.ID.String(), Organisation: p.orgName, Email: inv.Email, Role: inv.Role, Token: token, ExpiresAt: inv.ExpiresAt}
	if o.cfg.Mail != nil {
		if err := o.mailInvitation(r.Context(), out); err != nil {
			// The invitation stands: the inviter passes it on instead.
			o.log.Warn("mail invitation", "to", inv.Email, "err", err)
			out.MailError = err.Error()
		} else {
			// Only the invitee's mailbox holds the secret now.
			out.Mailed, out.Token = true, ""
		}
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// mailInvitation sends inv to its invitee through the configured relay,
// with the command that accepts it against the operator's public URL
// (never one derived from the request's Host, which a caller chooses).
func (o *Operator) mailInvitation(ctx context.Context, inv api.Invitation) error {
	body := fmt.Sprintf(`You are invited to join the organisation %s on Zeitwork as %s.

Accept with the Zeitwork CLI (https://github.com/zeitwork/zeitwork):

  zeitwork login --api %s --invite %s

The invitation works once and expires on %s.
If you did not expect it, ignore this message.
`, inv.Organisation, inv.Role, o.cfg.PublicURL, inv.Token, inv.ExpiresAt.UTC().Format("2 January 2006, 15:04 UTC"))
	return o.cfg.Mail.Send(ctx, mail.Message{To: inv.Email, Subject: "Join " + inv.Organisation + " on Zeitwork", Body: body})
}

func (o *Operator) listInvitations(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	rows, err := o.store.ListInvitations(r.Context(), p.orgID)
	if err != nil {
		return err
	}
	out := []api.Invitation{}
	for _, inv := range rows {
		out = append(out, api.Invitation{ID: inv.ID.String(), Organisation: p.orgName, Email: inv.Email, Role: inv.Role, ExpiresAt: inv.ExpiresAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeInvitation deletes a pending invitation of the organisation, so
// that its token is refused like one that never existed.
func (o *Operator) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	id, err := uuid.Parse(r.PathValue("id"))
	notFound := &apiError{http.StatusNotFound, fmt.Sprintf("no pending invitation %q in this organisation", r.PathValue("id")),
		"list pending invitations with `zeitwork invitations list`; an accepted one is undone with `zeitwork members remove`"}
	if err != nil {
		return notFound
	}
	inv, err := o.store.DeleteInvitation(r.Context(), db.DeleteInvitationParams{ID: id, OrganisationID: p.orgID})
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return notFound
		}
		return err
	}
	auditFrom(r.Context()).setObject("invitation", inv.Email)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseTTL reads a Go duration ("72h"); empty is def; more than max is refused.
func parseTTL(s string, def, max time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > max {
		return 0, invalid(fmt.Sprintf("give a duration such as 72h, at most %dh", int(max.Hours())), "invalid expiry %q", s)
	}
	return d, nil
}

var errInvitationUsed = &apiError{http.StatusGone, "this invitation was already used or has expired",
	"ask an owner of the organisation for a new one (`zeitwork members invite`)"}

// acceptInvitation is public: the invitation token is the credential. It
// makes a new user (and gives them a token), or adds the membership to the
// existing user of that address, who must then send their own token: an
// invitation must not hand out an existing account.
func (o *Operator) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var req api.AcceptInvitationRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	pw, err := o.newPasswordHash(req.Password)
	if err != nil {
		return err
	}
	var out api.AcceptInvitationResponse
	err = o.store.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
		inv, err := q.GetInvitationByHash(ctx, hashToken(strings.TrimSpace(req.Token)))
		if err != nil {
			if isNotFound(store.Classify(err)) {
				return &apiError{http.StatusNotFound, "no such invitation", "check that you copied the whole token (zwi_...); a revoked invitation is gone: ask for a new one"}
			}
			return err
		}
		if inv.AcceptedAt != nil || !time.Now().Before(inv.ExpiresAt) {
			return errInvitationUsed
		}
		user, token, err := o.invitee(ctx, r, q, inv, pw)
		if err != nil {
			return err
		}
		role, err := spendInvitation(ctx, q, inv, user)
		if err != nil {
			return err
		}
		out = api.AcceptInvitationResponse{Organisation: inv.Organisation, Email: inv.Email, Role: role, Token: token}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// spendInvitation marks inv accepted by user (once: errInvitationUsed
// for a second acceptance) and adds the membership; it answers the role
// the user now has there. The invitee is the audit entry's actor.
func spendInvitation(ctx context.Context, q *db.Queries, inv db.GetInvitationByHashRow, user uuid.UUID) (string, error) {
	if n, err := q.AcceptInvitation(ctx, db.AcceptInvitationParams{ID: inv.ID, AcceptedBy: uuid.NullUUID{UUID: user, Valid: true}}); err != nil || n == 0 {
		if err == nil {
			err = errInvitationUsed
		}
		return "", err
	}
	// A member keeps a higher role they have: an invitation never
	// demotes (nor takes the organisation's last owner).
	m, err := q.GetMembership(ctx, db.GetMembershipParams{OrganisationID: inv.OrganisationID, UserID: user})
	if err != nil && !isNotFound(store.Classify(err)) {
		return "", err
	}
	role := inv.Role
	if err == nil && parseRole(m.Role) >= parseRole(inv.Role) {
		role = m.Role
	} else if _, err := q.AddMembership(ctx, db.AddMembershipParams{OrganisationID: inv.OrganisationID, UserID: user, Role: inv.Role}); err != nil {
		return "", err
	}
	rec := auditFrom(ctx)
	rec.setActor(auditActor{kind: kindUser, userID: user, orgID: inv.OrganisationID, role: role})
	rec.setObject("member", inv.Email)
	return role, nil
}

// invitee is the user an invitation adds: the existing user of its address,
// who must be the caller (with a token or signed in), or a new one with a
// new login token and, if given, the password pw.
func (o *Operator) invitee(ctx context.Context, r *http.Request, q *db.Queries, inv db.GetInvitationByHashRow, pw pgtype.Text) (uuid.UUID, string, error) {
	u, err := q.GetUserByEmail(ctx, inv.Email)
	if err == nil {
		if pw.Valid {
			return uuid.Nil, "", conflict("accept without a password; change yours with `zeitwork password change`",
				"%s already has an account and a way to sign in", inv.Email)
		}
		if _, cerr := r.Cookie(api.SessionCookie); bearer(r) == "" && cerr != nil {
			return uuid.Nil, "", &apiError{http.StatusUnauthorized, inv.Email + " already has an account here",
				"log in as " + inv.Email + " first, then accept with `zeitwork login --invite TOKEN`"}
		}
		p, err := o.authenticate(r)
		if err != nil {
			return uuid.Nil, "", err
		}
		if p.kind != kindUser || p.userID != u.ID || p.limited {
			return uuid.Nil, "", &apiError{http.StatusForbidden, "this invitation is for " + inv.Email,
				"log in as " + inv.Email + " (with a token without limits) to accept it"}
		}
		return u.ID, "", nil
	}
	if !isNotFound(store.Classify(err)) {
		return uuid.Nil, "", err
	}
	u, err = q.CreateUser(ctx, db.CreateUserParams{ID: uuid.New(), OrganisationID: uuid.NullUUID{UUID: inv.OrganisationID, Valid: true}, Email: inv.Email})
	if err != nil {
		return uuid.Nil, "", err
	}
	if err := q.SetUserPassword(ctx, db.SetUserPasswordParams{ID: u.ID, PasswordHash: pw}); err != nil {
		return uuid.Nil, "", err
	}
	token, hash := NewToken()
	_, err = q.CreateAPIToken(ctx, db.CreateAPITokenParams{
		ID: uuid.New(), Kind: kindUser, UserID: uuid.NullUUID{UUID: u.ID, Valid: true}, Name: "login", TokenHash: hash,
	})
	return u.ID, token, err
}
