package edge

import "strings"

// normalizeHost turns a Host header into the form route tables use: lower
// case, no port, no trailing dot. The common case, a host that is already
// in that form, returns its argument without allocating.
func normalizeHost(h string) string {
	if i := portStart(h); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimRight(h, ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = strings.TrimRight(h[1:len(h)-1], ".")
	}
	if strings.ContainsAny(h, "[]") {
		return "" // malformed; no route has an empty host
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return asciiLower(h)
		}
	}
	return h
}

// asciiLower lowers only ASCII letters: host names on the wire are ASCII
// (IDNs travel as punycode), and Unicode case mapping could change a
// string's length or map a foreign letter onto an ASCII one.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// portStart returns the index of the ':' that starts a port, or -1. A bare
// IPv6 address has colons but no port; a bracketed one has its port after
// the ']'.
func portStart(h string) int {
	i := strings.LastIndexByte(h, ':')
	if i < 0 {
		return -1
	}
	if strings.HasPrefix(h, "[") {
		if j := strings.LastIndexByte(h, ']'); j >= 0 && j < i {
			return i
		}
		return -1
	}
	if strings.IndexByte(h, ':') != i {
		return -1 // unbracketed IPv6 address
	}
	return i
}
