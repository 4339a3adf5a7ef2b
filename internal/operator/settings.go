package operator

import (
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

func (o *Operator) getSettings(w http.ResponseWriter, r *http.Request) error {
	s, err := o.store.GetInstallationSettings(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.InstallationSettings{SignupDomains: s.SignupDomains, UpdatedAt: s.UpdatedAt})
	return nil
}

func (o *Operator) putSettings(w http.ResponseWriter, r *http.Request) error {
	var req api.InstallationSettings
	if err := readJSON(r, &req); err != nil {
		return err
	}
	domains := []string{}
	for _, d := range req.SignupDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if !validDomain(d) {
			return invalid("give domains such as example.com, or none to close sign-up", "invalid sign-up domain %q", d)
		}
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	s, err := o.store.SetSignupDomains(r.Context(), domains)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.InstallationSettings{SignupDomains: s.SignupDomains, UpdatedAt: s.UpdatedAt})
	return nil
}

// validDomain accepts DNS names of at least two labels.
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(d) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

var errSignupClosed = &apiError{http.StatusForbidden, "sign-up is closed for this address",
	"ask an organisation owner for an invitation (`zeitwork members invite`)"}

// signup is public while the installation's administrators open it to a
// domain: it makes a user of that domain, an organisation they own, and
// their login token. It never hands out an existing user (409).
func (o *Operator) signup(w http.ResponseWriter, r *http.Request) error {
	var req api.SignupRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if err := validEmail(email); err != nil {
		return err
	}
	if !api.IsProjectName(req.Organisation) {
		return invalid("name your organisation with 1 to 40 lower-case letters, digits and single hyphens", "invalid organisation name %q", req.Organisation)
	}
	ctx := r.Context()
	settings, err := o.store.GetInstallationSettings(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(settings.SignupDomains, email[strings.LastIndexByte(email, '@')+1:]) {
		return errSignupClosed
	}
	pw, err := o.newPasswordHash(req.Password)
	if err != nil {
		return err
	}
	token, hash := NewToken()
	err = o.store.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
		if _, err := q.GetUserByEmail(ctx, email); err == nil {
			return conflict("log in, or ask for an invitation to the organisation", "%s already has an account", email)
		}
		org, err := q.CreateOrganisation(ctx, db.CreateOrganisationParams{ID: uuid.New(), Name: req.Organisation})
		if err != nil {
			if isConflict(store.Classify(err)) {
				return conflict("choose another name", "an organisation named %q already exists", req.Organisation)
			}
			return err
		}
		u, err := q.CreateUser(ctx, db.CreateUserParams{ID: uuid.New(), OrganisationID: uuid.NullUUID{UUID: org.ID, Valid: true}, Email: email})
		if err != nil {
			return err
		}
		if _, err := q.AddMembership(ctx, db.AddMembershipParams{OrganisationID: org.ID, UserID: u.ID, Role: roleOwner.String()}); err != nil {
			return err
		}
		if err := q.SetUserPassword(ctx, db.SetUserPasswordParams{ID: u.ID, PasswordHash: pw}); err != nil {
			return err
		}
		_, err = q.CreateAPIToken(ctx, db.CreateAPITokenParams{
			ID: uuid.New(), Kind: kindUser, UserID: uuid.NullUUID{UUID: u.ID, Valid: true}, Name: "login", TokenHash: hash,
		})
		return err
	})
	if err != nil {
		if isConflict(store.Classify(err)) {
			return conflict("log in, or ask for an invitation", "%s already has an account", email)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, api.AcceptInvitationResponse{Organisation: req.Organisation, Email: email, Role: roleOwner.String(), Token: token})
	return nil
}
