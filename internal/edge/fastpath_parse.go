package edge

import "bytes"

// The fast path's request parser. It is strict on purpose: it accepts
// only the plain requests that every HTTP/1.1 implementation reads the
// same way, and anything else (bare LF, obs-fold, a header it is unsure
// of, Transfer-Encoding, Upgrade, Expect, two Content-Lengths or Hosts)
// is handed to net/http, whose answer stays what it was without the fast
// path. FuzzFastParse checks that whatever it accepts net/http accepts
// too, with the same method, target, protocol, host, headers and body
// length.

// maxFastFields caps the header lines of a request the fast path serves;
// more is handed off.
const maxFastFields = 64

// fastHead is a parsed request head. Its slices point into the
// connection's read buffer and are valid until the head is discarded.
type fastHead struct {
	method        string // one of fastMethods
	target        []byte // origin-form: starts with '/'
	proto11       bool   // HTTP/1.1, else HTTP/1.0
	host          []byte
	contentLength int64 // 0 when absent
	closeConn     bool  // Connection: close
	keepAlive     bool  // Connection: keep-alive (HTTP/1.0)
	n             int   // fields in use
	fields        [maxFastFields]fastField
}

type fastField struct{ name, value []byte }

// fastMethods are the methods the fast path serves; CONNECT, TRACE and
// unknown ones are handed off.
var fastMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}

// headEnd returns the length of the request head at the start of b,
// through the empty line that ends it; 0 if b holds no complete head
// yet; -1 if the head has a line not ended by CRLF or starts with an
// empty line, which the fast path leaves to net/http.
func headEnd(b []byte) int {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return 0
		}
		j := start + i
		if j == 0 || b[j-1] != '\r' {
			return -1
		}
		if j-1 == start {
			if start == 0 {
				return -1
			}
			return j + 1
		}
		start = j + 1
	}
}

// parseHead parses a complete head (as headEnd measured it) into h. It
// reports false for anything the fast path does not serve.
func parseHead(b []byte, h *fastHead) bool {
	*h = fastHead{fields: h.fields}
	line, rest := cutLine(b)
	if !parseRequestLine(line, h) {
		return false
	}
	hasHost, hasCL := false, false
	for {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || h.n == maxFastFields {
			return false
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range name {
			if !isTokenByte(c) {
				return false // also a space before the colon, or obs-fold
			}
		}
		for _, c := range value {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return false // NUL, bare CR and other controls
			}
		}
		switch {
		case asciiEqualFold(name, "host"):
			if hasHost || !validFastHost(value) {
				return false
			}
			hasHost, h.host = true, value
		case asciiEqualFold(name, "content-length"):
			n, ok := parseContentLength(value)
			if hasCL || !ok {
				return false
			}
			hasCL, h.contentLength = true, n
		case asciiEqualFold(name, "transfer-encoding"), asciiEqualFold(name, "upgrade"),
			asciiEqualFold(name, "expect"):
			return false
		case asciiEqualFold(name, "connection"):
			connectionTokens(value, h)
		}
		h.fields[h.n] = fastField{name, value}
		h.n++
	}
	return hasHost
}

// parseRequestLine accepts "METHOD /target HTTP/1.x" with single spaces,
// a known method and a target of printable ASCII.
func parseRequestLine(line []byte, h *fastHead) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return false
	}
	for _, m := range fastMethods {
		if string(line[:sp]) == m {
			h.method = m
			break
		}
	}
	if h.method == "" {
		return false
	}
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 || line[0] != '/' {
		return false
	}
	h.target = line[:sp]
	for _, c := range h.target {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	switch string(line[sp+1:]) {
	case "HTTP/1.1":
		h.proto11 = true
	case "HTTP/1.0":
	default:
		return false
	}
	return true
}

// cutLine splits b after its first CRLF; the line is returned without it.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	return b[:i-1], b[i+1:]
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseContentLength accepts 1 to 15 digits: no sign, no list, no spaces.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// connectionTokens notes close and keep-alive in a Connection value.
func connectionTokens(v []byte, h *fastHead) {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		tok = trimOWS(tok)
		switch {
		case asciiEqualFold(tok, "close"):
			h.closeConn = true
		case asciiEqualFold(tok, "keep-alive"):
			h.keepAlive = true
		}
	}
}

// validFastHost accepts a host name or address with an optional port:
// letters, digits and - . : [ ] only, a subset of what net/http allows.
func validFastHost(b []byte) bool {
	if len(b) == 0 || len(b) > 255 {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// isTokenByte reports whether c may appear in a header name (RFC 9110
// tchar).
func isTokenByte(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return c < 0x80 && bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// asciiEqualFold reports whether b equals the lower-case s, ignoring
// ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
