package edge

import (
	"bytes"
	"io"
	"net/http"
)

// The common upstream response, parsed without net/http: a status line,
// plain header fields and a Content-Length body (or none: HEAD, 204,
// 304). Anything else (1xx, chunked, close-delimited, a field it is
// unsure of, a head past the connection's buffer) is left to
// http.ReadResponse, which reads the same bytes since nothing was
// consumed. FuzzFastResponse checks it against http.ReadResponse.

// fastResponse is the reused response of one upstream connection.
type fastResponse struct {
	resp http.Response
	body lengthBody
	n    int // fields in use
	// fields are the header lines of the head being parsed.
	fields [maxFastFields]fastField
}

// readResponseFast reads the response to r from c if it is a plain one;
// nil and no error leave it to http.ReadResponse.
func readResponseFast(c *upConn, r *http.Request) (*http.Response, error) {
	head, err := peekHead(c)
	if head == 0 || err != nil {
		return nil, err
	}
	if c.fast == nil {
		c.fast = &fastResponse{body: lengthBody{src: c.br}}
	}
	fr := c.fast
	buf, _ := c.br.Peek(head)
	cl, ok := parseResponseHead(buf, r.Method, fr)
	if !ok {
		return nil, nil
	}
	resp := &fr.resp
	hdr := resp.Header
	if hdr == nil {
		hdr = http.Header{}
	}
	proto, major, minor, status := resp.Proto, resp.ProtoMajor, resp.ProtoMinor, resp.Status
	code, close := resp.StatusCode, resp.Close
	*resp = http.Response{Status: status, StatusCode: code, Proto: proto, ProtoMajor: major, ProtoMinor: minor,
		Header: hdr, ContentLength: cl, Close: close, Request: r, Body: http.NoBody}
	fillFields(hdr, fr.fields[:fr.n], "")
	c.br.Discard(head)
	if cl > 0 && bodyExpected(r.Method, code) {
		fr.body.remaining = cl
		resp.Body = &fr.body
	}
	return resp, nil
}

// peekHead waits until c's buffer holds a complete head and returns its
// length, or 0 when the fast parser should not try (a line without CR,
// a head larger than the buffer). A read error is returned as
// http.ReadResponse would return it.
func peekHead(c *upConn) (int, error) {
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		switch n := headEnd(buf); {
		case n > 0:
			return n, nil
		case n < 0 || len(buf) == c.br.Size():
			return 0, nil
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			// Returned as it is (a reset, a timeout), which net/http would
			// see too; a head cut short is an unexpected EOF for both.
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
}

func bodyExpected(method string, code int) bool {
	return method != http.MethodHead && code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// parseResponseHead parses b, a complete response head, into fr's
// response fields and field list, and returns the Content-Length as
// net/http reports it.
func parseResponseHead(b []byte, method string, fr *fastResponse) (int64, bool) {
	resp := &fr.resp
	line, rest := cutLine(b)
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 ")):
		resp.Proto, resp.ProtoMinor = "HTTP/1.1", 1
	case bytes.HasPrefix(line, []byte("HTTP/1.0 ")):
		resp.Proto, resp.ProtoMinor = "HTTP/1.0", 0
	default:
		return 0, false
	}
	resp.ProtoMajor = 1
	line = line[len("HTTP/1.1 "):]
	if len(line) < 3 || len(line) > 3 && line[3] != ' ' {
		return 0, false
	}
	code := 0
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 {
		return 0, false // interim and 101: net/http's
	}
	for _, c := range line {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return 0, false
		}
	}
	resp.StatusCode = code
	resp.Status = statusString(line)
	cl, hasCL, keepAlive, closeConn := int64(0), false, false, false
	fr.n = 0
	for {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || fr.n == maxFastFields {
			return 0, false
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range name {
			if !isTokenByte(c) {
				return 0, false
			}
		}
		for _, c := range value {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return 0, false
			}
		}
		switch {
		case asciiEqualFold(name, "content-length"):
			n, ok := parseContentLength(value)
			if hasCL || !ok {
				return 0, false
			}
			cl, hasCL = n, true
		case asciiEqualFold(name, "transfer-encoding"):
			return 0, false
		case asciiEqualFold(name, "connection"):
			var h fastHead
			connectionTokens(value, &h)
			closeConn = closeConn || h.closeConn
			keepAlive = keepAlive || h.keepAlive
		}
		fr.fields[fr.n] = fastField{name, value}
		fr.n++
	}
	if !hasCL && bodyExpected(method, code) {
		return 0, false // close-delimited: net/http's
	}
	resp.Close = closeConn || resp.ProtoMinor == 0 && !keepAlive
	switch {
	case method == http.MethodHead && hasCL:
		return cl, true // net/http reports the length of the body not sent
	case method == http.MethodHead:
		return -1, true
	case !bodyExpected(method, code):
		return 0, true
	}
	return cl, true
}

// statusString is the status as http.Response.Status spells it ("200
// OK"), without allocating for the usual reason phrases.
func statusString(line []byte) string {
	if len(line) > 4 && string(line[4:]) == http.StatusText(int(line[0]-'0')*100+int(line[1]-'0')*10+int(line[2]-'0')) {
		if s, ok := commonStatus[string(line)]; ok {
			return s
		}
	}
	return string(line)
}

var commonStatus = func() map[string]string {
	m := map[string]string{}
	for _, c := range []int{200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 422, 429, 500, 502, 503, 504} {
		s := http.StatusText(c)
		k := string(rune('0'+c/100)) + string(rune('0'+c/10%10)) + string(rune('0'+c%10)) + " " + s
		m[k] = k
	}
	return m
}()
