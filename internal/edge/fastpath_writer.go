package edge

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// fastSmallBody is how much of a body of unknown length the writer holds
// back, so that a short one gets a Content-Length (as with net/http).
const fastSmallBody = 2 << 10

// fastWriter is the fast path's http.ResponseWriter: it writes an
// HTTP/1.1 response to the connection's buffer with the framing net/http
// would choose: the handler's Content-Length, else a length counted for
// a short body written at once, else chunked (close-delimited for
// HTTP/1.0 clients); no body for HEAD, 1xx, 204 and 304.
type fastWriter struct {
	fc     *fastConn
	h      http.Header
	head   *fastHead
	status int

	committed  bool  // the response head is in the buffer
	chunked    bool  // the body is sent in chunks
	noBody     bool  // HEAD, 1xx, 204, 304
	closeAfter bool  // the connection ends after this response
	length     int64 // the declared Content-Length, or -1
	written    int64 // body bytes written
	pending    []byte
}

func (w *fastWriter) reset(h *fastHead) {
	clear(w.h)
	w.head, w.status = h, 0
	w.committed, w.chunked, w.noBody, w.closeAfter = false, false, false, false
	w.length, w.written = -1, 0
	w.pending = w.pending[:0]
}

func (w *fastWriter) Header() http.Header { return w.h }

func (w *fastWriter) WriteHeader(code int) {
	if w.status != 0 || code < 200 && code != http.StatusSwitchingProtocols {
		return // interim responses are not relayed; a second call is ignored
	}
	w.status = code
}

var errFastBodyNotAllowed = errors.New("edge: response status does not allow a body")

func (w *fastWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if w.length < 0 && w.h["Content-Length"] == nil && len(w.pending)+len(p) <= fastSmallBody {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	return w.writeBody(p)
}

// Flush sends what is buffered; a body of unknown length goes chunked.
func (w *fastWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	w.fc.bw.Flush()
}

// Hijack hands the connection to the handler: an instance switching
// protocols (101) on a request that did not ask for it.
func (w *fastWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.committed {
		return nil, nil, errors.New("edge: hijack after the response began")
	}
	w.fc.stopWatch()
	w.fc.hijacked = true
	return w.fc.conn, bufio.NewReadWriter(w.fc.br, w.fc.bw), nil
}

// finish completes the response after the handler returned.
func (w *fastWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	bw := w.fc.bw
	switch {
	case w.chunked:
		bw.WriteString("0\r\n")
		for k, vv := range w.h {
			if t, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidHeaderFieldName(t) {
				for _, v := range vv {
					writeHeaderLine(bw, t, v)
				}
			}
		}
		bw.WriteString("\r\n")
	case w.length >= 0 && w.written < w.length && !w.noBody:
		w.closeAfter = true // short of its length: the client must see it end
	}
	if w.fc.body.remaining > maxFastDiscard {
		w.closeAfter = true
	}
}

// commit writes the response head. done says the handler returned, so
// that a held-back body's length is known.
func (w *fastWriter) commit(done bool) {
	w.committed = true
	h, head := w.h, w.head
	code := w.status
	isHead := head.method == http.MethodHead
	bodyAllowed := code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
	w.noBody = isHead || !bodyAllowed
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			delete(h, "Content-Length")
		}
	}
	if v := h["Connection"]; v != nil && httpguts.HeaderValuesContainsToken(v, "close") {
		w.closeAfter = true
	}
	if head.closeConn || (!head.proto11 && !head.keepAlive) || w.fc.body.remaining > maxFastDiscard {
		w.closeAfter = true
	}
	var addLength bool
	switch {
	case code == http.StatusSwitchingProtocols:
	case w.length >= 0:
	case done && bodyAllowed && !(isHead && len(w.pending) == 0):
		w.length, addLength = int64(len(w.pending)), true
	case w.noBody:
	case head.proto11:
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0: the end of the body is the close
	}
	if _, ok := h["Content-Type"]; !ok && !w.noBody && len(w.pending) > 0 {
		h["Content-Type"] = []string{http.DetectContentType(w.pending)}
	}

	bw := w.fc.bw
	if head.proto11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(code), 10))
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code " + strconv.Itoa(code))
	}
	bw.WriteString("\r\n")
	for k, vv := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		if k == "Connection" && w.closeAfter {
			continue // written below, once
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
	if h["Date"] == nil {
		bw.WriteString("Date: ")
		bw.Write(time.Now().UTC().AppendFormat(bw.AvailableBuffer(), http.TimeFormat))
		bw.WriteString("\r\n")
	}
	if addLength {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.length, 10))
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closeAfter && head.proto11:
		bw.WriteString("Connection: close\r\n")
	case !w.closeAfter && !head.proto11:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = w.pending[:0]
		w.writeBody(p)
	}
}

// writeBody writes p with the body's framing.
func (w *fastWriter) writeBody(p []byte) (int, error) {
	if w.noBody {
		if w.head.method == http.MethodHead {
			return len(p), nil
		}
		return 0, errFastBodyNotAllowed
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	if len(p) == 0 {
		return 0, nil
	}
	bw := w.fc.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	w.written += int64(n)
	if err == nil && w.chunked {
		_, err = bw.WriteString("\r\n")
	}
	return n, err
}

// writeHeaderLine writes one field, with any CR or LF in the value turned
// into a space, as net/http does.
func writeHeaderLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
	}
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

var (
	_ http.ResponseWriter = (*fastWriter)(nil)
	_ http.Flusher        = (*fastWriter)(nil)
	_ http.Hijacker       = (*fastWriter)(nil)
)
