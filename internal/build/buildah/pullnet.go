package buildah

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/zeitwork/zeitwork/internal/image"
)

// pullNet is the network namespace `buildah bud` runs in, so that what
// buildah fetches for the tenant's Dockerfile (FROM images, ADD URLs)
// obeys the same deny list as RUN steps. The namespace (zwb<name>-p<slot>)
// has only a loopback interface, and on it listeners of the builder's
// own, created from the host side:
//   - an HTTP proxy (HTTP_PROXY and HTTPS_PROXY in buildah's environment,
//     with a per-build password RUN steps never see) that dials public
//     addresses only, checked at connect time on the resolved address,
//     plus the operator's registries (Config.PlainHTTP, Config.Mirror and
//     the push registry), which may be private;
//   - for each of those registries on loopback, a forwarder on the same
//     address and port: Go programs never send loopback requests through
//     a proxy, so buildah connects to them directly.
//
// Every other destination has no route: a tenant's `FROM 10.0.0.5:5000/x`
// or `FROM 169.254.169.254/x` is refused by the proxy and reaches nothing.
type pullNet struct {
	ns      string
	allowed *image.Egress
	user    string
	token   string

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	denied    []string
	proxyAddr string
	srv       *http.Server
}

func newPullNet(cfg Config, slot int, allowed []string) *pullNet {
	return &pullNet{
		ns:      "zwb" + cfg.Name + "-p" + strconv.Itoa(slot),
		allowed: image.NewEgress("", allowed),
		user:    "zeitwork",
		conns:   map[net.Conn]struct{}{},
	}
}

func (p *pullNet) nsPath() string { return "/run/netns/" + p.ns }

// setup replaces what a crashed build of the slot left, makes the
// namespace and starts the listeners in it.
func (p *pullNet) setup(ctx context.Context, loopbackRegistries []string) error {
	p.teardownNS(ctx)
	if err := ip(ctx, "netns", "add", p.ns); err != nil {
		return err
	}
	if err := ip(ctx, "-n", p.ns, "link", "set", "lo", "up"); err != nil {
		return err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	p.token = hex.EncodeToString(b)
	proxyL, err := p.listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	p.proxyAddr = proxyL.Addr().String()
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go p.srv.Serve(proxyL)
	for _, hp := range loopbackRegistries {
		l, err := p.listen(hp)
		if err != nil {
			return err
		}
		go p.forward(l, hp)
	}
	return nil
}

// env points buildah's HTTP clients at the proxy.
func (p *pullNet) env() []string {
	u := fmt.Sprintf("http://%s:%s@%s", p.user, p.token, p.proxyAddr)
	return []string{"HTTP_PROXY=" + u, "HTTPS_PROXY=" + u, "http_proxy=" + u, "https_proxy=" + u}
}

// listen opens a TCP listener in the namespace, from a thread switched
// into it for the call (the socket stays in the namespace).
func (p *pullNet) listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := p.do(func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, p.ns, err)
	}
	p.mu.Lock()
	p.listeners = append(p.listeners, l)
	p.mu.Unlock()
	return l, nil
}

// start starts cmd with the namespace as its network namespace.
func (p *pullNet) start(cmd *exec.Cmd) error {
	return p.do(cmd.Start)
}

// do runs fn on a thread switched into the namespace. If the thread cannot
// be switched back it stays locked and Go ends it with the goroutine.
func (p *pullNet) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(p.nsPath())
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// ServeHTTP is the proxy: CONNECT tunnels for TLS registries and
// absolute-form requests for plain HTTP ones, each to an allowed address.
func (p *pullNet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(r.Header.Get("Proxy-Authorization")) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="zeitwork-build"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.Out.URL = pr.In.URL; pr.Out.Host = pr.In.Host },
		Transport: &http.Transport{DialContext: p.dial, ResponseHeaderTimeout: 2 * time.Minute},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusForbidden)
		},
	}
	rp.ServeHTTP(w, r)
}

func (p *pullNet) authorized(h string) bool {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.token))
	return subtle.ConstantTimeCompare([]byte(h), []byte(want)) == 1
}

// connect tunnels to r.Host. A refused destination gets a 403 whose
// reason phrase says why: Go clients, buildah among them, make it the
// error they report.
func (p *pullNet) connect(w http.ResponseWriter, r *http.Request) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	up, dialErr := p.dial(r.Context(), "tcp", r.Host)
	client, buf, err := hj.Hijack()
	if err != nil {
		if up != nil {
			up.Close()
		}
		return
	}
	if dialErr != nil {
		reason := strings.NewReplacer("\r", " ", "\n", " ").Replace(dialErr.Error())
		fmt.Fprintf(client, "HTTP/1.1 403 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", reason)
		client.Close()
		return
	}
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		client.Close()
		up.Close()
		return
	}
	// Bytes the client sent after the CONNECT request are already buffered.
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Reader.Peek(n)
		up.Write(b)
	}
	p.pipe(client, up)
}

// forward accepts connections on l (in the namespace) and joins each to
// target on the host's loopback.
func (p *pullNet) forward(l net.Listener, target string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			up, err := net.DialTimeout("tcp", target, 30*time.Second)
			if err != nil {
				c.Close()
				return
			}
			p.pipe(c, up)
		}()
	}
}

// pipe copies both ways until either side ends; teardown closes what is
// still open.
func (p *pullNet) pipe(a, b net.Conn) {
	if !p.track(a, b) {
		a.Close()
		b.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
	a.Close()
	b.Close()
	p.untrack(a, b)
}

func (p *pullNet) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *pullNet) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// dial connects to addr from the host if it is an allowed registry or
// resolves to public addresses only; the check runs on each resolved
// address right before connect. A refusal is recorded for the build's
// error.
func (p *pullNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !p.allowed.Allowed(addr) {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !image.PublicAddr(ap.Addr()) {
				return fmt.Errorf("%w: %s resolves to %s", errDenied, addr, address)
			}
			return nil
		}
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil && errors.Is(err, errDenied) {
		host, _, _ := net.SplitHostPort(addr)
		p.mu.Lock()
		if !contains(p.denied, host) {
			p.denied = append(p.denied, host)
		}
		p.mu.Unlock()
		return nil, fmt.Errorf("%s is a private, loopback or link-local address, which builds may not reach", addr)
	}
	return c, err
}

var errDenied = errors.New("address not allowed")

// deniedHosts are the hosts the proxy refused during the build.
func (p *pullNet) deniedHosts() []string {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.denied...)
}

// teardown stops the listeners and open connections and removes the
// namespace.
func (p *pullNet) teardown(ctx context.Context) error {
	if p.srv != nil {
		p.srv.Close()
	}
	p.mu.Lock()
	for _, l := range p.listeners {
		l.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.listeners, p.conns = nil, nil
	p.mu.Unlock()
	return p.teardownNS(ctx)
}

func (p *pullNet) teardownNS(ctx context.Context) error {
	if _, err := os.Stat(p.nsPath()); err != nil {
		return nil
	}
	return ip(ctx, "netns", "del", p.ns)
}

// loopbackRegistry reports whether hostport names a registry on the
// host's loopback, which buildah dials without the proxy.
func loopbackRegistry(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
