package api

import (
	"strings"
	"unicode/utf8"
)

// ValidBranch reports whether b is a branch name git accepts, roughly
// (git check-ref-format): valid UTF-8 without spaces, controls or
// ~^:?*[\, no "..", "//" or "@{", no leading "-" or "/", no trailing "/",
// "." or ".lock". Branch names reach git's and buildah's command lines, so
// the API, the git remote and the GitHub webhook all check them with this.
func ValidBranch(b string) bool {
	if b == "" || len(b) > 255 || !utf8.ValidString(b) || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") ||
		strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`~^:?*[\`, c) {
			return false
		}
	}
	return true
}
