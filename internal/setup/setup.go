// Package setup installs one Zeitwork role (operator, node, edge, lb or
// dns) on a Debian or Ubuntu host as a systemd service: the packages the
// role needs, the binary in /usr/local/bin, the role's settings in
// /etc/zeitwork and a hardened unit. It is what `zeitwork setup` runs.
//
// Setting up is split in two so that a dry run shows exactly what a real
// run does: Plan reads the host (existing settings, credentials, the
// installed binary) and returns the steps, without changing anything;
// Print shows them; Apply carries them out. Running it again upgrades: the
// binary is replaced and the unit restarted, and settings not given again
// (join token, seal key, database URL) are kept from the existing file.
package setup

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Roles are the roles setup installs, in the order a new installation
// sets them up.
var Roles = []string{"operator", "node", "edge", "lb", "dns"}

// Paths on the host (below Options.Root).
const (
	BinDir    = "/usr/local/bin"
	ConfigDir = "/etc/zeitwork"
	UnitDir   = "/etc/systemd/system"
	StateDir  = "/var/lib/zeitwork"
	CacheDir  = "/var/cache/zeitwork"
	// KernelCache is the node's guest kernel cache (CacheDirectory
	// zeitwork/kernel), shared with `zeitwork up`'s default.
	KernelCache = CacheDir + "/kernel"
)

// Options say what to set up.
type Options struct {
	// Role is one of Roles.
	Role string
	// Root is the directory the host's file system starts at: "/" for a
	// real set-up. Under any other root files are written there and
	// commands (apt-get, systemctl, the kernel download) are skipped, for
	// tests and for preparing an image.
	Root string
	// Binary is the zeitwork executable to install (the running one). The
	// node also installs the guest init found next to it.
	Binary string
	// Operator is the operator's API URL (node, edge).
	Operator string
	// JoinToken enrols a new node or edge (zeitwork nodes join-token).
	JoinToken string
	// Region is the node's region.
	Region string
	// DatabaseURL is the operator's PostgreSQL; LocalPostgres installs
	// PostgreSQL on this host and makes a database for it instead.
	DatabaseURL   string
	LocalPostgres bool
	// Builds says whether the operator builds Dockerfiles, which needs
	// buildah and runc (--builds of `zeitwork operator`); nil keeps the
	// existing setting, else true.
	Builds *bool
	// Config is a JSON configuration file to install (lb, dns); without
	// it the one already in /etc/zeitwork is kept.
	Config string
	// Args are further flags for the role's command, kept in the settings
	// file as ZEITWORK_ARGS (e.g. "--listen 0.0.0.0:80"). nil keeps the
	// existing ones.
	Args *string
}

// Error is a mistake in the options or an unsuitable host, with what to do.
type Error struct {
	Msg  string
	Hint string
}

func (e *Error) Error() string { return e.Msg }

// unitName is the role's systemd unit.
func unitName(role string) string { return "zeitwork-" + role + ".service" }

// envPath is the role's settings file, read by its unit.
func envPath(role string) string { return ConfigDir + "/" + role + ".env" }

// stateDir is the role's StateDirectory.
func stateDir(role string) string { return StateDir + "/" + role }

// hostPath is path below the options' root.
func (o *Options) hostPath(path string) string {
	return filepath.Join(o.root(), path)
}

func (o *Options) root() string {
	if o.Root == "" {
		return "/"
	}
	return o.Root
}

// real reports whether this is a set-up of the running host.
func (o *Options) real() bool { return filepath.Clean(o.root()) == "/" }

// CheckRole refuses a role that is not one of Roles.
func CheckRole(role string) error {
	if slices.Contains(Roles, role) {
		return nil
	}
	return &Error{Msg: fmt.Sprintf("unknown role %q", role),
		Hint: "give one of: " + strings.Join(Roles, ", ") + " (e.g. zeitwork setup node --join-token zwj_...)"}
}
