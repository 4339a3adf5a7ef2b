package edge

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// errClientBody marks a failure to read the client's request body: the
// client's fault (or departure), not the instance's.
var errClientBody = errors.New("read request body")

// hopByHop lists the headers that describe one connection and so are
// never forwarded (RFC 9110, section 7.6.1), plus the framing and the
// forwarding headers that writeRequest sets itself.
var hopByHop = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"Content-Length":      true,
	"Expect":              true, // the body is sent without waiting for 100
	"X-Forwarded-For":     true,
	"X-Forwarded-Proto":   true,
	"X-Forwarded-Host":    true,
	"Forwarded":           true,
	"X-Real-Ip":           true,
}

// framingAlias reports whether name spells a header the edge frames or
// routes by (Content-Length, Transfer-Encoding, Host, ...) with
// underscores for hyphens. Apps behind CGI-style gateways (PHP-FPM,
// WSGI, Rack) see Content_Length and Content-Length as the same
// variable, so such a header would let a client give the app a body
// framing the edge does not see, and desync a kept-alive connection that
// other clients' requests share. They are dropped; other names with
// underscores pass (unlike nginx, which drops them all by default).
func framingAlias(name string) bool {
	if strings.IndexByte(name, '_') < 0 {
		return false
	}
	h := strings.ReplaceAll(name, "_", "-")
	if strings.EqualFold(h, "Host") {
		return true
	}
	for k := range hopByHop {
		if strings.EqualFold(h, k) {
			return true
		}
	}
	return false
}

// isUpgrade reports whether r asks to switch protocols (WebSocket).
func isUpgrade(r *http.Request) bool {
	return r.Header["Upgrade"] != nil && httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade")
}

// replayable reports whether r may be sent again after a failed attempt:
// an idempotent method and no body to have consumed.
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return r.ContentLength == 0
	}
	return false
}

// writeRequest writes r's head and body to bw as an HTTP/1.1 request and
// flushes it. Writing straight into the connection's buffer, rather than
// building an outgoing http.Request, saves most of a proxy's allocations.
func writeRequest(bw *bufio.Writer, r *http.Request, upgrade bool) error {
	uri := r.RequestURI
	if r.URL.IsAbs() || uri == "" {
		uri = r.URL.RequestURI() // absolute-form from a proxy-style client
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if hopByHop[k] || (conn != nil && httpguts.HeaderValuesContainsToken(conn, k)) || framingAlias(k) {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	writeForwarded(bw, r)
	if upgrade {
		bw.WriteString("Connection: Upgrade\r\n")
		writeField(bw, "Upgrade", strings.Join(r.Header["Upgrade"], ", "))
	}
	switch {
	case r.ContentLength > 0:
		writeField(bw, "Content-Length", strconv.FormatInt(r.ContentLength, 10))
	case r.ContentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		// Some servers answer 411 to a body-carrying method without a length.
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
	if err := writeBody(bw, r); err != nil {
		return err
	}
	return bw.Flush()
}

func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// writeForwarded names the client in X-Forwarded-For, X-Real-IP and
// Forwarded, and sets X-Forwarded-Proto and -Host. What the client sent
// in those headers is dropped, not appended to: the edge is the first
// proxy an app can trust, and a client could write any address there.
// The address is the connection's, or a trusted load balancer's PROXY
// header's (Listener).
func writeForwarded(bw *bufio.Writer, r *http.Request) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	bw.WriteString("X-Forwarded-For: ")
	bw.WriteString(ip)
	bw.WriteString("\r\nX-Real-IP: ")
	bw.WriteString(ip)
	bw.WriteString("\r\nX-Forwarded-Proto: ")
	bw.WriteString(proto)
	bw.WriteString("\r\nX-Forwarded-Host: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\nForwarded: for=")
	if strings.IndexByte(ip, ':') >= 0 {
		bw.WriteString(`"[` + ip + `]"`) // IPv6 must be quoted (RFC 7239)
	} else {
		bw.WriteString(ip)
	}
	bw.WriteString(";host=")
	// Quoted into the writer's spare buffer: no allocation per request.
	bw.Write(strconv.AppendQuote(bw.AvailableBuffer(), r.Host))
	bw.WriteString(";proto=")
	bw.WriteString(proto)
	bw.WriteString("\r\n")
}

// writeBody copies r's body with the framing writeRequest announced.
func writeBody(bw *bufio.Writer, r *http.Request) error {
	switch {
	case r.ContentLength > 0:
		_, err := io.CopyN(bw, bodyReader{r.Body}, r.ContentLength)
		if err == io.EOF {
			return fmt.Errorf("%w: %w", errClientBody, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return err
		}
	case r.ContentLength < 0:
		cw := httputil.NewChunkedWriter(bw)
		if _, err := io.Copy(cw, bodyReader{r.Body}); err != nil {
			return err
		}
		cw.Close()
		bw.WriteString("\r\n")
	}
	return nil
}

// bodyReader marks read errors as the client's, to tell them apart from
// write errors on the upstream connection inside io.Copy.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errClientBody, err)
	}
	return n, err
}
