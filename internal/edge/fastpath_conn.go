package edge

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// fastHeadBuf is the read buffer of a fast-path connection: a request
// head that does not fit is handed off (net/http applies MaxHeaderBytes).
const fastHeadBuf = 8 << 10

// maxFastDiscard is how much of a request body nobody read the fast path
// reads away to keep the connection, as net/http does; more closes it.
const maxFastDiscard = 256 << 10

var (
	fastReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, fastHeadBuf) }}
	fastWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// fastConn is one client connection in the fast path. Its request,
// header maps and buffers are reused from one request to the next.
type fastConn struct {
	l      *fastListener
	e      *Edge
	conn   net.Conn
	g      *guardConn // nil if the listener is not Listener's
	br     *bufio.Reader
	bw     *bufio.Writer
	idle   atomic.Bool // waiting for a request's first byte
	cancel context.CancelFunc

	tls      *tls.ConnectionState // nil for plain HTTP
	remote   string               // RemoteAddr, once
	host     string               // the last request's Host, reused while it repeats
	head     fastHead
	req      *http.Request
	body     lengthBody
	w        fastWriter
	hijacked bool

	// The watch on a request that waits (watch.go): its state, the timer
	// that starts it and the signal that it ended.
	watchState atomic.Int32
	watchTimer *time.Timer
	watchDone  chan struct{}
}

func newFastConn(l *fastListener, c net.Conn, state *tls.ConnectionState) *fastConn {
	fc := &fastConn{l: l, e: l.e, conn: c, tls: state}
	fc.g = guardOf(c)
	ctx := context.Background()
	if fc.g != nil {
		ctx = context.WithValue(ctx, connKey{}, fc.g)
	}
	ctx, fc.cancel = context.WithCancel(ctx)
	fc.req = (&http.Request{}).WithContext(ctx)
	fc.req.Header = http.Header{}
	fc.body.onEnd = fc.armWatch // the client may be watched once its body is in
	fc.w = fastWriter{fc: fc, h: http.Header{}}
	fc.watchDone = make(chan struct{}, 1)
	fc.watchTimer = time.AfterFunc(time.Hour, fc.watch)
	fc.watchTimer.Stop()
	return fc
}

// serve runs the connection's requests until it closes or is handed off.
func (fc *fastConn) serve() {
	defer fc.cancel()
	fc.remote = fc.conn.RemoteAddr().String() // reads a PROXY header
	if g := fc.g; g != nil && (g.perr != nil || g.refused.Load() != 0) {
		fc.l.handoff(fc.conn) // refused as before: net/http answers it
		return
	}
	fc.br = fastReaders.Get().(*bufio.Reader)
	fc.br.Reset(fc.conn)
	fc.bw = fastWriters.Get().(*bufio.Writer)
	fc.bw.Reset(fc.conn)
	for first := true; ; first = false {
		n, next := fc.readHead(first)
		if next == fastServe {
			next = fc.serveOne(n)
		}
		switch next {
		case fastHandoff:
			fc.handoff()
			return
		case fastClose:
			fc.close()
			return
		case fastHijacked:
			return // the hijacker owns the connection and its buffers
		}
	}
}

// What to do after a step of the loop.
const (
	fastServe    = iota // serve the head read / read the next request
	fastHandoff         // give the connection to net/http
	fastClose           // close the connection
	fastHijacked        // let go of it: a protocol switch took it over
)

// readHead waits for the next request head and returns its length. The
// first request gets ReadHeaderTimeout, a later one IdleTimeout until its
// first byte and ReadHeaderTimeout from then, as with net/http; a head
// that comes in one read (the common case) re-arms no deadline.
func (fc *fastConn) readHead(first bool) (int, int) {
	fc.idle.Store(true)
	defer fc.idle.Store(false)
	if fc.l.closing.Load() {
		return 0, fastClose
	}
	cfg := &fc.e.cfg
	hdr := first || fc.br.Buffered() > 0
	timeout := cfg.IdleTimeout
	if hdr {
		timeout = cfg.ReadHeaderTimeout
	}
	if fc.g != nil {
		fc.g.readSince.Store(0) // a new request starts: not slow yet
	}
	fc.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		buf, _ := fc.br.Peek(fc.br.Buffered())
		switch n := headEnd(buf); {
		case n > 0:
			return n, fastServe
		case n < 0 || len(buf) == fc.br.Size():
			return 0, fastHandoff
		}
		if len(buf) > 0 {
			fc.idle.Store(false)
			if !hdr {
				hdr = true
				fc.conn.SetReadDeadline(time.Now().Add(cfg.ReadHeaderTimeout))
			}
		}
		if _, err := fc.br.Peek(len(buf) + 1); err != nil {
			if fc.br.Buffered() > 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
				// A head cut short: net/http answers it as before.
				return 0, fastHandoff
			}
			return 0, fastClose // idle, gone, or too slow (guardConn counts it)
		}
	}
}

// serveOne serves the request whose head is the first n buffered bytes,
// or hands it off if the fast path does not serve it.
func (fc *fastConn) serveOne(n int) int {
	e, h := fc.e, &fc.head
	buf, _ := fc.br.Peek(n)
	if !parseHead(buf, h) || h.contentLength > e.cfg.MaxBodyBytes {
		return fastHandoff
	}
	if fc.host == "" || string(h.host) != fc.host {
		fc.host = string(h.host)
	}
	t := e.table.Load()
	if t == nil {
		return fastHandoff
	}
	rt := t.hosts[normalizeHost(fc.host)]
	if rt == nil || rt.redirect != "" || len(rt.backends) == 0 {
		return fastHandoff // 404, redirects, asleep or waking: as before
	}
	if !fc.buildRequest() || headerSize(fc.req) > e.cfg.MaxHeaderBytes {
		return fastHandoff
	}
	fc.br.Discard(n)
	if h.contentLength > int64(fc.br.Buffered()) {
		// The body may take its time: no deadline while it is read.
		fc.conn.SetReadDeadline(time.Time{})
	}
	e.stats.fastRequests.Add(1)
	fc.w.reset(h)
	if h.contentLength == 0 {
		fc.armWatch()
	}
	ok := fc.handle()
	if fc.hijacked {
		return fastHijacked
	}
	fc.stopWatch()
	if !ok || fc.req.Context().Err() != nil {
		return fastClose
	}
	fc.w.finish()
	if fc.w.closeAfter || fc.l.closing.Load() {
		return fastClose
	}
	if fc.body.remaining > 0 {
		if _, err := io.CopyN(io.Discard, &fc.body, fc.body.remaining); err != nil {
			return fastClose
		}
	}
	if fc.br.Buffered() == 0 {
		if err := fc.bw.Flush(); err != nil {
			return fastClose
		}
	} else if fc.bw.Buffered() > fastHeadBuf/2 {
		fc.bw.Flush() // pipelined: flush with the next response, unless much is waiting
	}
	return fastServe
}

// handle runs the edge's handler; a panic (an instance that broke off
// mid-body aborts with http.ErrAbortHandler) closes the connection.
func (fc *fastConn) handle() (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				fc.e.log.Error("edge: panic serving request", "err", p, "stack", string(debug.Stack()))
			}
			ok = false
		}
	}()
	fc.l.h.ServeHTTP(&fc.w, fc.req)
	return true
}

// buildRequest fills the connection's http.Request from its head, as
// net/http's server would.
func (fc *fastConn) buildRequest() bool {
	h, r := &fc.head, fc.req
	target := string(h.target)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return false
	}
	r.Method, r.URL, r.RequestURI, r.Host, r.RemoteAddr = h.method, u, target, fc.host, fc.remote
	r.ProtoMajor, r.ProtoMinor, r.Proto = 1, 1, "HTTP/1.1"
	if !h.proto11 {
		r.ProtoMinor, r.Proto = 0, "HTTP/1.0"
	}
	r.Close = h.closeConn || (!h.proto11 && !h.keepAlive)
	r.ContentLength = h.contentLength
	r.Body = http.NoBody
	fc.body.src, fc.body.remaining = fc.br, h.contentLength
	if h.contentLength > 0 {
		r.Body = &fc.body
	}
	r.TransferEncoding, r.Trailer, r.Form, r.PostForm, r.MultipartForm = nil, nil, nil, nil, nil
	r.GetBody, r.Response, r.Pattern, r.TLS = nil, nil, "", fc.tls
	fillHeader(r.Header, h)
	return true
}

// fillHeader sets hdr to h's fields, keyed as net/http keys them, without
// Host (in r.Host).
func fillHeader(hdr http.Header, h *fastHead) { fillFields(hdr, h.fields[:h.n], "Host") }

// fillFields sets hdr to fields, keyed as net/http keys them, leaving out
// the header named skip (if any), and with Cache-Control: no-cache added
// for Pragma: no-cache as net/http does.
func fillFields(hdr http.Header, fields []fastField, skip string) {
	clear(hdr)
	vals := make([]string, len(fields))
	for i := range fields {
		f := &fields[i]
		k := canonicalKey(f.name)
		if k == skip {
			continue
		}
		vals[i] = string(f.value)
		if old := hdr[k]; old != nil {
			hdr[k] = append(old, vals[i])
		} else {
			hdr[k] = vals[i : i+1 : i+1]
		}
	}
	if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" && hdr["Cache-Control"] == nil {
		hdr["Cache-Control"] = []string{"no-cache"}
	}
}

// commonKeys are canonical header names kept as constants, so that their
// keys cost no allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Length", "Content-Type", "Cookie", "Host",
		"If-Modified-Since", "If-None-Match", "Origin", "Pragma", "Referer", "User-Agent",
		"X-Request-Id", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip",
		"Forwarded", "Keep-Alive", "Te", "Priority", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Fetch-User", "Upgrade-Insecure-Requests", "Dnt", "Range"} {
		m[k] = k
	}
	return m
}()

// canonicalKey is textproto.CanonicalMIMEHeaderKey for a name of token
// bytes (what parseHead accepts).
func canonicalKey(name []byte) string {
	var buf [64]byte
	if len(name) > len(buf) {
		return textproto.CanonicalMIMEHeaderKey(string(name))
	}
	k := buf[:len(name)]
	upper := true
	for i, c := range name {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		k[i] = c
		upper = c == '-'
	}
	if s, ok := commonKeys[string(k)]; ok {
		return s
	}
	return string(k)
}

// handoff gives the connection, and what was read from it, to net/http.
func (fc *fastConn) handoff() {
	var c net.Conn = fc.conn
	if n := fc.br.Buffered(); n > 0 {
		buf, _ := fc.br.Peek(n)
		c = &replayConn{Conn: fc.conn, pending: append([]byte(nil), buf...)}
	}
	fc.bw.Flush()
	fc.release()
	fc.l.handoff(c)
}

// close ends the connection. With a request body left unread it first
// half-closes and drains for a moment, as net/http does, so that the
// client reads the response rather than a reset.
func (fc *fastConn) close() {
	fc.bw.Flush()
	if fc.body.remaining > 0 {
		if cw, ok := fc.conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			fc.conn.SetReadDeadline(time.Now().Add(fastDrain))
			io.Copy(io.Discard, fc.conn)
		}
	}
	fc.conn.Close()
	fc.release()
}

// fastDrain bounds the drain of an unread body before a close.
const fastDrain = 500 * time.Millisecond

func (fc *fastConn) release() {
	fc.br.Reset(nil)
	fastReaders.Put(fc.br)
	fc.bw.Reset(nil)
	fastWriters.Put(fc.bw)
	fc.br, fc.bw = nil, nil
}

// lengthBody is a body of known length read from a connection's buffer:
// a request's on the fast path, or an upstream response's.
type lengthBody struct {
	src       io.Reader
	remaining int64
	onEnd     func() // after its last byte is read; nil for nothing
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.src.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 && b.onEnd != nil {
		b.onEnd()
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // as net/http's bodies: the length was promised
	}
	if err == nil && b.remaining == 0 {
		err = io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }
