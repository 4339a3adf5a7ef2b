package api

// A deployment's versioned URL is "<slug>--<project>.<apps domain>" and a
// project's URL is "<project>.<apps domain>". Project names may not contain
// "--" (nor start or end with "-"), so no project name is ever a versioned
// label, and a versioned label splits one way only: the two host forms can
// never collide, whatever names tenants choose. The slug comes first, as in
// Netlify's "<deploy>--<site>", because "<project>--<slug>" would put "--"
// at the third and fourth characters for two-letter project names, a label
// form that IDNA reserves and certificate authorities refuse.
const (
	// SlugLength is the length of a deployment's short id.
	SlugLength = 8
	// VersionSeparator joins slug and project in a versioned label.
	VersionSeparator = "--"
)

// VersionedLabel is the host label of a deployment's versioned URL.
func VersionedLabel(project, slug string) string {
	return slug + VersionSeparator + project
}

// ParseVersionedLabel splits a versioned host label into the deployment's
// slug and the project's name. It does not check that project is a valid
// project name; callers that need one look it up.
func ParseVersionedLabel(label string) (slug, project string, ok bool) {
	n := SlugLength + len(VersionSeparator)
	if len(label) <= n || label[SlugLength:n] != VersionSeparator || !IsSlug(label[:SlugLength]) {
		return "", "", false
	}
	return label[:SlugLength], label[n:], true
}

// IsSlug reports whether s has the form of a deployment's short id: eight
// characters of lower-case base32 (a-z, 2-7).
func IsSlug(s string) bool {
	if len(s) != SlugLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// IsProjectName reports whether name may name a project: 1 to 40
// lower-case letters, digits and single hyphens, starting with a letter
// and not ending with a hyphen, so that it is a DNS label that contains no
// VersionSeparator.
func IsProjectName(name string) bool {
	if len(name) < 1 || len(name) > 40 || name[0] < 'a' || name[0] > 'z' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && name[i-1] != '-':
		default:
			return false
		}
	}
	return true
}
