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

// checkArgs refuses build arg names that are not plain identifiers or
// that buildah's environment reserves.
func checkArgs(args map[string]string) error {
	for _, name := range sortedKeys(args) {
		if err := build.CheckArgName(name); err != nil {
			return fmt.Errorf("%w: %w", build.ErrUser, err)
		}
		if strings.IndexByte(args[name], 0) >= 0 {
			return fmt.Errorf("%w: build arg %s contains a NUL byte", build.ErrUser, name)
		}
	}
	return nil
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
