package buildah

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zeitwork/zeitwork/internal/build"
)

// Build args reach buildah through its environment, not its command line:
// /proc/<pid>/cmdline is readable by every user of the host, a root
// process's /proc/<pid>/environ only by root. `buildah bud --build-arg
// NAME` without a value takes the value of the environment variable NAME.
// The names are the tenant's, so none may be one that buildah, its
// libraries, the Go runtime or the C library read: such an arg would
// change how the root process behaves (LD_PRELOAD, HTTPS_PROXY,
// REGISTRY_AUTH_FILE, ...).

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

// checkArgs refuses build arg names that are not plain identifiers or
// that buildah's environment reserves.
func checkArgs(args map[string]string) error {
	for _, name := range sortedKeys(args) {
		if !validArgName(name) {
			return fmt.Errorf("%w: invalid build arg name %q: use ASCII letters, digits and underscores, not starting with a digit", build.ErrUser, name)
		}
		if reservedArg(name) {
			return fmt.Errorf("%w: build arg name %q is reserved by the builder (it would set the builder's own environment): rename it, e.g. APP_%s", build.ErrUser, name, strings.TrimLeft(name, "_"))
		}
		if strings.IndexByte(args[name], 0) >= 0 {
			return fmt.Errorf("%w: build arg %s contains a NUL byte", build.ErrUser, name)
		}
	}
	return nil
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

// argFlags are bud's --build-arg flags: names only.
func argFlags(args map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(args) {
		out = append(out, "--build-arg", k)
	}
	return out
}

// argEnv are the build args as environment variables for bud.
func argEnv(args map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(args) {
		out = append(out, k+"="+args[k])
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
