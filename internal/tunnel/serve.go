package tunnel

import (
	"bufio"
	"container/list"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Timeouts of the tunnel's own work; the byte pipe itself has none, since
// idle keep-alive connections are the edge's business. Variables so that
// tests can shorten them.
var (
	headerTimeout = 5 * time.Second
	dialTimeout   = 5 * time.Second
	// lingerTimeout bounds how long one direction stays open after the
	// other ended, so a peer that ignores our half-close cannot hold the
	// connection (and its two goroutines) forever.
	lingerTimeout = time.Minute
	// maxPending bounds the connections that have not yet presented a
	// valid header. Past it, the oldest of them is closed to make room:
	// a client that keeps many idle connections open cannot lock edges
	// out, since an edge sends its header at once and stops counting a
	// round trip later, and it cannot hold more than maxPending
	// goroutines and buffers either.
	maxPending = 256
)

// Serve accepts tunnel connections on ln until ctx ends, then closes ln and
// every open tunnel and returns nil. Each connection must present token
// (which must be valid in a header: an empty one is refused up front);
// resolve maps the instance it names to the VM's "ip:port".
func Serve(ctx context.Context, ln net.Listener, token string,
	resolve func(instance string) (addr string, ok bool), log *slog.Logger) error {
	if err := checkToken(token); err != nil {
		return fmt.Errorf("tunnel serve: %w", err)
	}
	return serve(ctx, ln, &server{token: []byte(token), resolve: resolve, log: log})
}

// ServeTLS is Serve over TLS: each connection must complete a handshake
// that cfg accepts (a node requires an edge certificate of the cluster's
// CA, pki.TunnelServer) within the header timeout, and then send a header
// whose token is TLSToken. Plain connections never reach the header.
// With revoked (nil: none), a client certificate it names is refused in
// the handshake, and a change to it closes that edge's open tunnels.
func ServeTLS(ctx context.Context, ln net.Listener, cfg *tls.Config,
	resolve func(instance string) (addr string, ok bool), log *slog.Logger, revoked ...*Revocations) error {
	if cfg == nil || cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		return errors.New("tunnel serve: TLS must require and verify client certificates")
	}
	s := &server{token: []byte(TLSToken), tls: cfg, resolve: resolve, log: log}
	if len(revoked) > 0 && revoked[0] != nil {
		s.revoked, s.tls = revoked[0], refusingRevoked(cfg, revoked[0])
		defer s.revoked.watch(s)()
	}
	return serve(ctx, ln, s)
}

// TLSToken is the header's token on a TLS tunnel, where the client's
// certificate, not the token, proves it is an edge.
const TLSToken = "tls"

func serve(ctx context.Context, ln net.Listener, s *server) error {
	s.mu.Lock()
	s.conns, s.pending, s.pendingAt = map[net.Conn]struct{}{}, list.New(), map[net.Conn]*list.Element{}
	s.peers = map[net.Conn]string{}
	s.mu.Unlock()
	log := s.log
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.closeAll()
	})
	defer stop()

	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.wg.Wait()
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				s.closeAll()
				s.wg.Wait()
				return fmt.Errorf("tunnel accept: %w", err)
			}
			// Out of file descriptors and the like: back off, do not spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.Warn("tunnel accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(c)
		}()
	}
}

type server struct {
	token   []byte
	tls     *tls.Config  // nil: plain TCP
	revoked *Revocations // nil: none
	resolve func(string) (string, bool)
	log     *slog.Logger
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	// pending holds the connections not yet authenticated, oldest first.
	pending   *list.List
	pendingAt map[net.Conn]*list.Element
	// peers names the edge of each TLS connection past its handshake.
	peers map[net.Conn]string
}

// track records a new connection as open and pending, closing the oldest
// pending connection when there are more than maxPending.
func (s *server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.pendingAt[c] = s.pending.PushBack(c)
	for s.pending.Len() > maxPending {
		old := s.pending.Remove(s.pending.Front()).(net.Conn)
		delete(s.pendingAt, old)
		old.Close()
	}
	return true
}

// authenticated takes c off the pending list; false means it was closed
// to make room for newer connections.
func (s *server) authenticated(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.pendingAt[c]
	if ok {
		s.pending.Remove(el)
		delete(s.pendingAt, c)
	}
	return ok
}

func (s *server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.peers, c)
	if el, ok := s.pendingAt[c]; ok {
		s.pending.Remove(el)
		delete(s.pendingAt, c)
	}
	s.mu.Unlock()
}

func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}

// handle authenticates one connection and pipes it to its instance.
func (s *server) handle(c net.Conn) {
	defer c.Close()
	// The deadline bounds the whole header read, so a client trickling one
	// byte at a time (slowloris) is cut off as surely as a silent one.
	c.SetDeadline(time.Now().Add(headerTimeout))
	raw := c
	if s.tls != nil {
		tc := tls.Server(c, s.tls)
		if err := tc.Handshake(); err != nil {
			s.log.Warn("tunnel: rejected connection: tls", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		c = tc
		defer c.Close()
		if id := peerID(tc.ConnectionState()); !s.admitPeer(raw, id) {
			s.log.Warn("tunnel: rejected connection: tls", "remote", c.RemoteAddr().String(), "err", errRevoked, "edge", id)
			return
		}
	}
	// Small buffer: the header is short, and whatever else it picks up of
	// the first request is forwarded before the zero-copy pipe starts.
	br := bufio.NewReaderSize(c, MaxHeaderLen)
	instance, tok, err := ReadHeader(br)
	if err != nil {
		s.log.Warn("tunnel: rejected connection", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(tok), s.token) != 1 {
		s.log.Warn("tunnel: rejected connection: wrong token", "remote", c.RemoteAddr().String(), "instance", instance)
		return
	}
	if !s.authenticated(raw) {
		s.log.Warn("tunnel: closed connection: too many unauthenticated connections", "remote", c.RemoteAddr().String())
		return
	}
	addr, ok := s.resolve(instance)
	if !ok {
		s.log.Warn("tunnel: unknown instance", "remote", c.RemoteAddr().String(), "instance", instance)
		return
	}
	c.SetDeadline(time.Time{})

	up, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		s.log.Warn("tunnel: dial instance", "instance", instance, "addr", addr, "err", err)
		return
	}
	defer up.Close()
	if n := br.Buffered(); n > 0 {
		head, _ := br.Peek(n)
		if _, err := up.Write(head); err != nil {
			return
		}
	}
	pipe(c, up)
}

// pipe copies both ways until both directions are done (copyConn: small
// messages through a pooled buffer, bulk ones spliced). Each direction
// half-closes its destination when its source ends, so a client that
// shuts down its sending side still gets the answer.
func pipe(client, up net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyConn(up, client)
		closeWrite(up)
		up.SetReadDeadline(time.Now().Add(lingerTimeout))
	}()
	copyConn(client, up)
	closeWrite(client)
	client.SetReadDeadline(time.Now().Add(lingerTimeout))
	<-done
}

// closeWrite half-closes c when it can and closes it otherwise.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	c.Close()
}
