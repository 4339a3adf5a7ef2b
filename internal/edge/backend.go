package edge

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// backend is one instance and its pool of idle tunnel connections.
type backend struct {
	key   backendKey
	cfg   *Config
	stats *counters // the edge's: dials are counted there
	// region is the instance's (route preference); node is its node's
	// health, shared with the node's other backends. Both are set at
	// creation and never change.
	region string
	node   *nodeHealth
	// nodeID is the ID of the node the route names (empty from an older
	// operator): over TLS, the node's certificate must be that node's, so
	// that a removed node's certificate, valid for the same address (its
	// host reused by a new node), cannot stand in for it.
	nodeID string

	mu     sync.Mutex
	idle   []*upConn // most recently used last: reuse is LIFO, so the
	closed bool      // pool's tail ages out under light load
}

func newBackend(k backendKey, cfg *Config, stats *counters, region string, node *nodeHealth) *backend {
	return &backend{key: k, cfg: cfg, stats: stats, region: region, node: node}
}

// upConn is one tunnel connection carrying HTTP/1.1 to an instance.
type upConn struct {
	conn net.Conn
	// raw is the TCP connection under conn (conn itself without TLS),
	// peeked at by alive.
	raw       net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	nread     int64 // bytes read from conn: zero-progress errors are retryable
	idleSince time.Time
	reused    bool
	// abort breaks any blocked read or write on conn by setting a deadline
	// in the past. Made once per connection, not per request.
	abort func()
	// fast is the response readResponseFast reuses (nil until then).
	fast *fastResponse
}

// Read counts what the bufio.Reader pulls from the connection.
func (c *upConn) Read(p []byte) (int, error) {
	n, err := c.conn.Read(p)
	c.nread += int64(n)
	return n, err
}

// errDial marks failures to open a tunnel: nothing reached the instance,
// so any request may go to the next one.
var errDial = errors.New("dial node agent")

// get returns an idle connection that is still open, or a new one (always
// a new one when fresh is set). Idle connections past IdleConnTimeout are
// closed on the way; probe also checks that the socket is still open.
func (b *backend) get(ctx context.Context, token string, probe, fresh bool) (*upConn, error) {
	now := time.Now()
	for !fresh {
		c := b.pop()
		if c == nil {
			break
		}
		if now.Sub(c.idleSince) > b.cfg.IdleConnTimeout || (probe && !alive(c)) {
			c.conn.Close()
			continue
		}
		c.reused = true
		return c, nil
	}
	return b.dial(ctx, token)
}

func (b *backend) pop() *upConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.idle)
	if n == 0 {
		return nil
	}
	c := b.idle[n-1]
	b.idle[n-1] = nil
	b.idle = b.idle[:n-1]
	return c
}

// put returns c to the pool, or closes it when the pool is full or gone.
func (b *backend) put(c *upConn) {
	c.idleSince = time.Now()
	b.mu.Lock()
	if !b.closed && len(b.idle) < b.cfg.MaxIdleConnsPerBackend {
		b.idle = append(b.idle, c)
		c = nil
	}
	b.mu.Unlock()
	if c != nil {
		c.conn.Close()
	}
}

// dial opens a tunnel. The header is only buffered: it leaves together with
// the first request in one write.
func (b *backend) dial(ctx context.Context, token string) (*upConn, error) {
	b.stats.upstreamDials.Add(1)
	d := net.Dialer{Timeout: b.cfg.DialTimeout, KeepAlive: 30 * time.Second, Control: userTimeout(b.cfg.TunnelUserTimeout)}
	if b.key.direct != "" {
		return b.dialDirect(ctx, &d)
	}
	conn, err := d.DialContext(ctx, "tcp", b.key.nodeAddr)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", errDial, b.key.nodeAddr, err)
	}
	c := &upConn{conn: conn, raw: conn, abort: func() { conn.SetDeadline(time.Unix(1, 0)) }}
	if b.cfg.TunnelTLS != nil {
		if c.conn, err = b.handshake(ctx, conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w %s: %w", errDial, b.key.nodeAddr, err)
		}
		token = tunnel.TLSToken
	}
	c.br = bufio.NewReaderSize(c, 4096)
	c.bw = bufio.NewWriterSize(c.conn, 4096)
	if err := tunnel.WriteHeader(c.bw, b.key.instance, token); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w %s: %w", errDial, b.key.nodeAddr, err)
	}
	return c, nil
}

// dialDirect connects to the instance's direct address (the direct
// transport): the node's kernel DNATs it to the app, so the connection is
// the app's socket, with no header. Failures count as the tunnel's do.
func (b *backend) dialDirect(ctx context.Context, d *net.Dialer) (*upConn, error) {
	conn, err := d.DialContext(ctx, "tcp", b.key.direct)
	if err != nil {
		return nil, fmt.Errorf("%w %s (direct %s): %w", errDial, b.key.nodeAddr, b.key.direct, err)
	}
	c := &upConn{conn: conn, raw: conn, abort: func() { conn.SetDeadline(time.Unix(1, 0)) }}
	c.br = bufio.NewReaderSize(c, 4096)
	c.bw = bufio.NewWriterSize(conn, 4096)
	return c, nil
}

// userTimeout sets TCP_USER_TIMEOUT on a tunnel socket before it
// connects (Config.TunnelUserTimeout).
func userTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		})
		return errors.Join(err, serr)
	}
}

// handshake opens TLS to the node agent: the edge presents its
// certificate and accepts only a node certificate of the cluster's CA
// valid for the address it dialled.
func (b *backend) handshake(ctx context.Context, conn net.Conn) (net.Conn, error) {
	conf := b.cfg.TunnelTLS.Clone()
	conf.ServerName, _, _ = net.SplitHostPort(b.key.nodeAddr)
	tc := tls.Client(conn, conf)
	hctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if b.nodeID != "" {
		_, id, _ := pki.RoleOf(tc.ConnectionState().PeerCertificates[0])
		if id != b.nodeID {
			tc.Close()
			return nil, fmt.Errorf("tls: node certificate is for node %q, the route names node %q", id, b.nodeID)
		}
	}
	return tc, nil
}

// reap closes idle connections older than the idle timeout, so that an
// edge without traffic does not hold node agents' sockets forever.
func (b *backend) reap(now time.Time) {
	b.mu.Lock()
	keep := b.idle[:0]
	var old []*upConn
	for _, c := range b.idle {
		if now.Sub(c.idleSince) > b.cfg.IdleConnTimeout {
			old = append(old, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(b.idle[len(keep):])
	b.idle = keep
	b.mu.Unlock()
	for _, c := range old {
		c.conn.Close()
	}
}

// close drops the pool; connections in use are closed when they come back.
func (b *backend) close() {
	b.mu.Lock()
	idle := b.idle
	b.idle, b.closed = nil, true
	b.mu.Unlock()
	for _, c := range idle {
		c.conn.Close()
	}
}

// alive reports whether an idle connection is still open, by peeking at
// the socket without blocking: the instance (or the agent) closing it shows
// as EOF, anything readable on an idle HTTP connection is garbage. Used
// before sending a request that cannot be retried.
func alive(c *upConn) bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		_ = n
		ok = err == unix.EAGAIN || err == unix.EWOULDBLOCK
		return true // never wait for readiness
	})
	return err == nil && ok
}
