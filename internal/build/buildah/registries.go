package buildah

import (
	"fmt"
	"strings"
)

// registriesConf is the registries.conf of one build: unqualified names
// mean docker.io, optionally through a mirror, and the operator's
// plain-HTTP registries are marked insecure so base images can come from
// them. Nothing of the host's /etc/containers/registries.conf applies.
func registriesConf(mirror string, plainHTTP []string) string {
	var b strings.Builder
	b.WriteString("unqualified-search-registries = [\"docker.io\"]\n")
	if mirror != "" {
		fmt.Fprintf(&b, "\n[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n\n[[registry.mirror]]\nlocation = %q\n", mirror)
		if contains(plainHTTP, mirror) {
			b.WriteString("insecure = true\n")
		}
	}
	for _, h := range plainHTTP {
		fmt.Fprintf(&b, "\n[[registry]]\nlocation = %q\ninsecure = true\n", h)
	}
	return b.String()
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
