package edge

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// fastSeeds are requests the parser must serve, or must leave to
// net/http (request smuggling and other ambiguous framing).
var fastSeeds = []struct {
	in    string
	serve bool
}{
	{"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
	{"POST /p?q=1 HTTP/1.0\r\nHost: a.example:8080\r\nContent-Length: 3\r\nX-A:  v \r\n\r\nabc", true},
	{"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\ncookie: b=2\r\nPragma: no-cache\r\n\r\n", true},
	{"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\nX-\xc3\xa9: \xc3\xa9\r\n\r\n", false}, // non-ASCII name
	{"GET / HTTP/1.1\r\nHost: a\r\nX-U: caf\xc3\xa9\r\n\r\n", true},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", false},
	{"GET / HTTP/1.1\r\n Host: a\r\n\r\n", false},
	{"GET / HTTP/1.1\nHost: a\n\n", false},
	{"GET / HTTP/1.1\r\nHost: a\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", false},
	{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", false},
	{"GET / http/1.1\r\nHost: a\r\n\r\n", false},
	{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", false},
	{"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET * HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"get / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET / HTTP/1.1\r\n\r\n", false},
	{"GET / HTTP/1.0\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", 20000) + "\r\n\r\n", true}, // parser only; the buffer hands it off
}

// TestFastParseSeeds pins what the parser serves and what it hands off.
func TestFastParseSeeds(t *testing.T) {
	for _, s := range fastSeeds {
		var h fastHead
		n := headEnd([]byte(s.in))
		got := n > 0 && parseHead([]byte(s.in)[:n], &h)
		if got != s.serve {
			t.Errorf("%q: served %v, want %v", s.in, got, s.serve)
		}
		if got {
			checkAgainstNetHTTP(t, []byte(s.in), n, &h)
		}
	}
}

// FuzzFastParse is the differential test of the parser: whatever it
// accepts, net/http's parser accepts too (with the server's own checks
// on Host and header values), and reads the same method, target,
// protocol, host, header fields and body length.
func FuzzFastParse(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n := headEnd(in)
		if n <= 0 {
			return
		}
		var h fastHead
		if !parseHead(in[:n], &h) {
			return
		}
		if _, err := url.ParseRequestURI(string(h.target)); err != nil {
			return // buildRequest hands these off
		}
		checkAgainstNetHTTP(t, in, n, &h)
	})
}

func checkAgainstNetHTTP(t *testing.T, in []byte, n int, h *fastHead) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in)))
	if err != nil {
		t.Fatalf("fast path serves %q, net/http refuses it: %v", in, err)
	}
	if hosts := req.Header["Host"]; len(hosts) > 1 || !httpguts.ValidHostHeader(req.Host) {
		t.Fatalf("fast path serves %q, net/http's server refuses its Host", in)
	}
	for k, vv := range req.Header {
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
				t.Fatalf("fast path serves %q, net/http's server refuses header %q: %q", in, k, v)
			}
		}
	}
	wantProto := "HTTP/1.0"
	if h.proto11 {
		wantProto = "HTTP/1.1"
	}
	if req.Method != h.method || req.RequestURI != string(h.target) || req.Proto != wantProto ||
		req.Host != string(h.host) || req.ContentLength != h.contentLength {
		t.Fatalf("%q: fast path %s %s %s host %q length %d; net/http %s %s %s host %q length %d", in,
			h.method, h.target, wantProto, h.host, h.contentLength,
			req.Method, req.RequestURI, req.Proto, req.Host, req.ContentLength)
	}
	if !slices.Equal(req.TransferEncoding, nil) {
		t.Fatalf("%q: net/http reads a transfer encoding %v", in, req.TransferEncoding)
	}
	got := http.Header{}
	fillHeader(got, h)
	want := req.Header.Clone()
	delete(want, "Host")
	if len(got) != len(want) {
		t.Fatalf("%q: fast path headers %q, net/http %q", in, got, want)
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Fatalf("%q: header %q: fast path %q, net/http %q", in, k, got[k], v)
		}
	}
	wantClose := req.Close
	if gotClose := h.closeConn || (!h.proto11 && !h.keepAlive); gotClose != wantClose {
		t.Fatalf("%q: fast path close %v, net/http %v", in, gotClose, wantClose)
	}
	_ = n
}
