package tunnel

import (
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"

	"github.com/zeitwork/zeitwork/internal/pki"
)

// Revocations is the set of edge IDs whose certificates a TLS tunnel
// listener refuses though the cluster's CA signed them (removed edges,
// learnt from the operator). Changing it closes the open tunnels of the
// edges it now names. The zero value is not usable; use NewRevocations.
type Revocations struct {
	mu       sync.Mutex
	ids      map[string]bool
	watchers map[*server]struct{}
}

// NewRevocations returns an empty set.
func NewRevocations() *Revocations {
	return &Revocations{ids: map[string]bool{}, watchers: map[*server]struct{}{}}
}

// Set replaces the set with ids and closes every open tunnel from an edge
// it names. It reports whether the set changed.
func (r *Revocations) Set(ids []string) bool {
	next := make(map[string]bool, len(ids))
	for _, id := range ids {
		next[id] = true
	}
	r.mu.Lock()
	changed := len(next) != len(r.ids)
	for id := range next {
		changed = changed || !r.ids[id]
	}
	if changed {
		r.ids = next
	}
	watchers := make([]*server, 0, len(r.watchers))
	for s := range r.watchers {
		watchers = append(watchers, s)
	}
	r.mu.Unlock()
	if changed {
		for _, s := range watchers {
			s.closeRevoked(r)
		}
	}
	return changed
}

// IDs returns the revoked IDs, sorted.
func (r *Revocations) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.ids))
	for id := range r.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Revoked reports whether the edge id is revoked.
func (r *Revocations) Revoked(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

func (r *Revocations) watch(s *server) (stop func()) {
	r.mu.Lock()
	r.watchers[s] = struct{}{}
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.watchers, s)
		r.mu.Unlock()
	}
}

// errRevoked is the handshake's error for a revoked certificate.
var errRevoked = errors.New("certificate revoked: this edge was removed")

// peerID is the ID a TLS connection's client certificate names ("" for
// none).
func peerID(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	_, id, _ := pki.RoleOf(cs.PeerCertificates[0])
	return id
}

// refusingRevoked is cfg that also refuses, in the handshake, a client
// certificate r names.
func refusingRevoked(cfg *tls.Config, r *Revocations) *tls.Config {
	cfg = cfg.Clone()
	verify := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		if r.Revoked(peerID(cs)) {
			return errRevoked
		}
		return nil
	}
	return cfg
}

// admitPeer records which edge the raw connection c comes from, so that a
// later revocation closes it, and reports false (c is to be closed) if
// the edge was revoked since its handshake.
func (s *server) admitPeer(c net.Conn, id string) bool {
	s.mu.Lock()
	if _, open := s.conns[c]; open {
		s.peers[c] = id
	}
	s.mu.Unlock()
	// Checked after recording: a revocation between the handshake and
	// here is seen either by this check or by closeRevoked's sweep.
	return s.revoked == nil || !s.revoked.Revoked(id)
}

// closeRevoked closes the open connections from edges r now revokes.
func (s *server) closeRevoked(r *Revocations) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, id := range s.peers {
		if r.Revoked(id) {
			s.log.Warn("tunnel: closing connection of a revoked edge", "remote", c.RemoteAddr().String(), "edge", id)
			c.Close()
		}
	}
}
