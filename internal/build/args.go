package build

import (
	"fmt"
	"strings"
)

// Build args may reach a backend through its environment (buildah reads
// `--build-arg NAME` without a value from it, which keeps values off the
// world-readable command line). The names are the tenant's, so none may be
// one that the backend, its libraries, the Go runtime or the C library
// read: such an arg would change how a root process behaves (LD_PRELOAD,
// HTTPS_PROXY, REGISTRY_AUTH_FILE, ...). The API refuses them when they are
// set, and the backend again when it runs.

// CheckArgName says why name cannot be a build arg's name, or nil.
func CheckArgName(name string) error {
	if !validArgName(name) {
		return fmt.Errorf("invalid build arg name %q: use ASCII letters, digits and underscores, not starting with a digit", name)
	}
	if reservedArg(name) {
		return fmt.Errorf("build arg name %q is reserved by the builder (it would set the builder's own environment): rename it, e.g. APP_%s", name, strings.TrimLeft(name, "_"))
	}
	return nil
}

// reservedArgs are environment variable names no build arg may have.
var reservedArgs = map[string]bool{
	"PATH": true, "HOME": true, "TMPDIR": true, "TMP": true, "TEMP": true, "TZ": true,
	"SHELL": true, "USER": true, "LOGNAME": true, "LANG": true, "LANGUAGE": true, "TERM": true,
	"NOTIFY_SOCKET": true, "LISTEN_FDS": true, "LISTEN_PID": true, "LISTEN_FDNAMES": true,
	"GCONV_PATH": true, "LOCPATH": true, "NLSPATH": true, "HOSTALIASES": true,
	"RES_OPTIONS": true, "LOCALDOMAIN": true, "GETCONF_DIR": true,
	"GODEBUG": true, "GOGC": true, "GOMAXPROCS": true, "GOMEMLIMIT": true,
	"GOTRACEBACK": true, "GORACE": true, "GOCOVERDIR": true,
}

// reservedArgPrefixes start names no build arg may have (compared in
// upper case: some programs read proxy variables in lower case).
var reservedArgPrefixes = []string{
	"_", "LD_", "MALLOC_", "GLIBC_", "LC_", "XDG_", "BUILDAH", "CONTAINERS", "REGISTRY",
	"STORAGE", "DOCKER", "SSL_", "OCI_", "RUNC", "CNI_", "PODMAN", "SKOPEO", "NETAVARK",
	"DBUS_", "SYSTEMD_", "OTEL_",
}

func validArgName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func reservedArg(name string) bool {
	upper := strings.ToUpper(name)
	if reservedArgs[upper] || strings.Contains(upper, "PROXY") {
		return true
	}
	for _, p := range reservedArgPrefixes {
		if strings.HasPrefix(upper, p) {
			return true
		}
	}
	return false
}
