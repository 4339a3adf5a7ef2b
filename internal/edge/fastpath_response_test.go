package edge

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// responseSeeds are upstream responses the fast parser reads itself, or
// leaves to net/http.
var responseSeeds = []struct {
	in, method string
	fast       bool
}{
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", "GET", true},
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", "GET", true}, // cut short: ErrUnexpectedEOF from the body
	{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "GET", true},
	{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", "GET", true},
	{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi", "GET", true},
	{"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", "HEAD", true},
	{"HTTP/1.1 204 No Content\r\n\r\n", "GET", true},
	{"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n", "GET", true},
	{"HTTP/1.1 299 Whatever\r\nContent-Length: 1\r\nPragma: no-cache\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\nx", "GET", true},
	{"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", "GET", false},
	{"HTTP/1.1 200 OK\r\n\r\nclose-delimited", "GET", false},
	{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
	{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nX: a\x00\r\nContent-Length: 0\r\n\r\n", "GET", false},
	{"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
	{"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: " + strings.Repeat("9", 20) + "\r\n\r\n", "GET", false},
}

func TestFastResponseSeeds(t *testing.T) {
	for _, s := range responseSeeds {
		c := testUpConn(s.in)
		resp, err := readResponseFast(c, &http.Request{Method: s.method})
		if (resp != nil) != s.fast || err != nil {
			t.Errorf("%q: fast %v (err %v), want %v", s.in, resp != nil, err, s.fast)
		}
		checkResponse(t, []byte(s.in), s.method)
	}
}

// FuzzFastResponse is the differential test of the response parser: a
// response it reads, net/http reads too, with the same status, protocol,
// header fields, length, connection handling and body bytes.
func FuzzFastResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s.in), s.method == "HEAD")
	}
	f.Fuzz(func(t *testing.T, in []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		checkResponse(t, in, method)
	})
}

func testUpConn(in string) *upConn {
	return &upConn{br: bufio.NewReaderSize(strings.NewReader(in), 4096)}
}

func checkResponse(t *testing.T, in []byte, method string) {
	t.Helper()
	req := &http.Request{Method: method}
	got, gerr := readResponseFast(testUpConn(string(in)), req)
	if got == nil && gerr == nil {
		return // net/http's
	}
	want, werr := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), req)
	if gerr != nil {
		if werr == nil {
			t.Fatalf("%q: fast parser fails (%v), net/http reads it", in, gerr)
		}
		return
	}
	if werr != nil {
		t.Fatalf("%q: fast parser reads it, net/http refuses it: %v", in, werr)
	}
	if got.StatusCode != want.StatusCode || got.Status != want.Status || got.Proto != want.Proto ||
		got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor ||
		got.ContentLength != want.ContentLength || got.Close != want.Close || want.TransferEncoding != nil {
		t.Fatalf("%q: fast %d %q %s len %d close %v; net/http %d %q %s len %d close %v te %v", in,
			got.StatusCode, got.Status, got.Proto, got.ContentLength, got.Close,
			want.StatusCode, want.Status, want.Proto, want.ContentLength, want.Close, want.TransferEncoding)
	}
	gh, wh := got.Header.Clone(), want.Header.Clone()
	delete(gh, "Connection") // hop-by-hop: never forwarded
	delete(wh, "Connection")
	if len(gh) != len(wh) {
		t.Fatalf("%q: fast headers %q, net/http %q", in, gh, wh)
	}
	for k, v := range wh {
		if !slices.Equal(gh[k], v) {
			t.Fatalf("%q: header %q: fast %q, net/http %q", in, k, gh[k], v)
		}
	}
	gb, gberr := io.ReadAll(got.Body)
	wb, wberr := io.ReadAll(want.Body)
	if !bytes.Equal(gb, wb) || (gberr == nil) != (wberr == nil) {
		t.Fatalf("%q: fast body %q (%v), net/http %q (%v)", in, gb, gberr, wb, wberr)
	}
}
