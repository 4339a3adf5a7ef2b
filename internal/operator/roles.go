package operator

import (
	"fmt"
	"net/http"
	"slices"
)

// role is a member's role in an organisation. Each role may do everything
// the roles below it may.
type role int

const (
	roleNone role = iota
	roleViewer
	roleDeveloper
	roleAdmin
	roleOwner
)

var roleNames = []string{"", "viewer", "developer", "admin", "owner"}

func (r role) String() string {
	if r < roleNone || r > roleOwner {
		return "unknown"
	}
	return roleNames[r]
}

// parseRole reads a role's name; roleNone for an unknown one.
func parseRole(s string) role {
	if i := slices.Index(roleNames, s); i > 0 {
		return role(i)
	}
	return roleNone
}

func validRole(s string) (role, error) {
	r := parseRole(s)
	if r == roleNone {
		return r, invalid("use owner, admin, developer or viewer", "unknown role %q", s)
	}
	return r, nil
}

// need is what a route asks of the caller. Every route in the table
// (routes.go) declares one; the zero need is refused at registration, so a
// route cannot be added without deciding who may use it.
type need struct {
	// public routes authenticate requests themselves (or serve anyone).
	public bool
	// kinds are the token kinds let in; the internal token always is.
	kinds []string
	// role is the least role a user token needs in the request's
	// organisation; roleNone lets in users of no organisation.
	role role
	// installAdmin routes are for the installation's administrators (and
	// the operator's admin token) only.
	installAdmin bool
	// project routes act on one project named in the path (or on a build
	// or deployment of one); the handler checks tokens confined to some
	// projects (principal.mayUseProject). Other routes refuse them.
	project bool
}

func (n need) valid() bool {
	return n.public || n.installAdmin || len(n.kinds) > 0
}

// String describes the need for the API reference and the tests.
func (n need) String() string {
	switch {
	case n.public:
		return "public"
	case n.installAdmin:
		return "installation admin"
	case slices.Equal(n.kinds, []string{kindUser}) && n.role == roleNone:
		return "any user"
	case slices.Equal(n.kinds, []string{kindUser}):
		return n.role.String()
	}
	return fmt.Sprint(n.kinds)
}

var (
	users = []string{kindUser}
	// public routes: the handler authenticates (join token, webhook
	// signature, invitation token) or the answer is the same for anyone.
	public = need{public: true}
	// anyUser is a user token, whatever its organisations, without a
	// project limit.
	anyUser = need{kinds: users}
	// anyUserToken is any user token, even one limited to some projects:
	// for routes that show only the token's own organisation.
	anyUserToken = need{kinds: users, project: true}
	// installAdmin is the installation's administrators.
	installAdmin = need{installAdmin: true}
)

// inOrg needs role r in the request's organisation, for routes that are
// not about one project.
func inOrg(r role) need { return need{kinds: users, role: r} }

// onProject needs role r in the organisation of the project the route acts on.
func onProject(r role) need { return need{kinds: users, role: r, project: true} }

// tokenKind lets in only tokens of one of the kinds (nodes, edges).
func tokenKind(kinds ...string) need { return need{kinds: kinds} }

// allow decides whether p may use a route that needs n: the one place
// where roles are enforced.
func (p principal) allow(n need) error {
	if n.public || p.kind == kindInternal {
		return nil
	}
	if n.installAdmin {
		if p.installAdmin {
			return nil
		}
		return &apiError{http.StatusForbidden, "only the installation's administrators may do this",
			"ask an administrator, or use a token of yours without a role or project limit if you are one"}
	}
	if !slices.Contains(n.kinds, p.kind) {
		return &apiError{http.StatusForbidden, "this token (kind " + p.kind + ") may not use this endpoint", "use a token of the right kind"}
	}
	if p.kind != kindUser {
		return nil
	}
	if len(p.projects) > 0 && !n.project {
		return &apiError{http.StatusForbidden, "this token is limited to some projects and may only act on them",
			"use a token without a project limit (`zeitwork tokens create`)"}
	}
	if p.role < n.role {
		if p.role == roleNone {
			return &apiError{http.StatusForbidden, "you are not a member of an organisation here",
				"ask an owner for an invitation, or create one with `zeitwork orgs create`"}
		}
		return &apiError{http.StatusForbidden,
			fmt.Sprintf("this needs the %s role in organisation %s; this token has %s", n.role, p.orgName, p.role),
			"ask an owner of the organisation (`zeitwork members list`) for a higher role, or use another token"}
	}
	return nil
}
