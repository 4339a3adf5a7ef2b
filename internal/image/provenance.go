package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Who may have a cached disk.
//
// A disk is the contents of layers that some registry served, and it is
// cached under the image's digest: the digest of its manifest. A manifest
// is not a secret that proves access, though: anyone who obtained its
// bytes can serve them from a registry of their own, or under a
// repository they may pull, without ever having the layers. So a node
// hands a cached disk out for a registry reference only when both hold:
//
//  1. The reference's repository (registry host and path) served this
//     image's layers and config once, verified against their digests: it
//     built the disk, or was checked by downloading them (verifyLayers,
//     no unpacking, no mkfs, no second disk). Such repositories are
//     listed in <dir>/sha256-<hex>.repos.
//  2. The registry served the manifest of repo@digest to the credentials
//     this start would pull with, just now: the manifest GET of the
//     resolution, or a HEAD of the manifest on a hit by digest (one round
//     trip through the same egress-confined transport). The answer is
//     remembered for proofTTL per repository, digest and credentials, so
//     that instances restarting in a loop do not hammer registries.
//
// The first keeps a registry that has only the manifest away from the
// layers; the second keeps a tenant away from a repository the registry
// would not let it pull (another tenant's private repository on a shared
// registry). Keying the cache by repository instead would close the hole
// as well but duplicate the disk of an image pulled from several
// repositories; recording repositories costs a few bytes and one download
// per new repository.
//
// When the registry cannot be reached (a network error or a 5xx, not a
// refusal), a disk is still handed out if the same credentials proved the
// same repository and digest within offlineGrace, in this process: a node
// keeps starting its known images through a registry outage, and nobody
// gains an image it could not pull before. Any answer but the manifest
// (401, 403, 404, another digest) drops the proof at once. Containerd
// and other runtimes ask the registry on every pull; this is the same
// check with a memory of a few hours for when the registry is down.
const (
	proofTTL     = time.Minute
	offlineGrace = 6 * time.Hour
)

// proofKey names what a manifest check proved: these credentials may
// pull repo@digest.
type proofKey struct {
	repo, digest, creds string
}

// repoOf is the repository ("host/path") of a registry reference, or ""
// for a local layout or archive, which the caller has on disk and is
// trusted as such.
func repoOf(ref string, o options) string {
	if IsLocal(ref) && !o.remoteOnly {
		return ""
	}
	r, err := parseRef(ref, o)
	if err != nil {
		return ""
	}
	return r.Context().Name()
}

// credsOf identifies the credentials a pull of r would send: a hash of
// them, never written anywhere.
func credsOf(ctx context.Context, r name.Reference, o options) (string, error) {
	a := o.auth
	if o.keychain != nil {
		var err error
		if a, err = o.keychain.Resolve(r.Context()); err != nil {
			return "", fmt.Errorf("credentials for %s: %w", r.Context().RegistryStr(), err)
		}
	}
	cfg, err := authn.Authorization(ctx, a)
	if err != nil {
		return "", fmt.Errorf("credentials for %s: %w", r.Context().RegistryStr(), err)
	}
	raw, _ := json.Marshal(cfg)
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:]), nil
}

// proveByDigest checks with the registry that o's credentials may pull
// ref (which names a digest). ok false means the disk must not be used.
func (s *Store) proveByDigest(ctx context.Context, r name.Digest, o options) bool {
	creds, err := credsOf(ctx, r, o)
	if err != nil {
		return false
	}
	key := proofKey{repo: r.Context().Name(), digest: r.DigestStr(), creds: creds}
	if s.provedWithin(key, proofTTL) {
		return true
	}
	desc, err := remote.Head(r, remoteOptions(ctx, o)...)
	switch {
	case err == nil && desc.Digest.String() == key.digest:
		s.prove(key)
		return true
	case err == nil || !unreachable(err):
		s.unprove(key)
		return false
	case s.provedWithin(key, offlineGrace):
		s.log.Warn("registry unreachable: starting a cached image these credentials pulled before",
			"image", r.String(), "err", err)
		return true
	}
	return false
}

// unreachable reports whether err means no answer from the registry (a
// network error, a timeout, a 5xx or 429), as opposed to an answer: a
// refusal, "not found", or a manifest other than the one asked for.
func unreachable(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode >= 500 || terr.StatusCode == http.StatusTooManyRequests
	}
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, context.DeadlineExceeded)
}

// proveResolved records that the registry just served img's manifest for
// ref to o's credentials (Resolve fetched it).
func (s *Store) proveResolved(ctx context.Context, ref string, o options, digest string) {
	r, err := parseRef(ref, o)
	if err != nil {
		return
	}
	if creds, err := credsOf(ctx, r, o); err == nil {
		s.prove(proofKey{repo: r.Context().Name(), digest: digest, creds: creds})
	}
}

func (s *Store) provedWithin(k proofKey, d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.proofs[k]
	return ok && s.clock().Sub(at) < d
}

func (s *Store) prove(k proofKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proofs == nil {
		s.proofs = map[proofKey]time.Time{}
	}
	now := s.clock()
	for old, at := range s.proofs { // keep the map small
		if now.Sub(at) >= offlineGrace {
			delete(s.proofs, old)
		}
	}
	s.proofs[k] = now
}

func (s *Store) unprove(k proofKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.proofs, k)
}

func (s *Store) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// servedBy reports whether repo served the layers of digest's disk.
func (s *Store) servedBy(digest, repo string) bool {
	raw, err := os.ReadFile(s.base(digest) + ".repos")
	return err == nil && slices.Contains(strings.Split(string(raw), "\n"), repo)
}

// addRepo records that repo served the layers of digest's disk. The
// caller holds the digest's build lock.
func (s *Store) addRepo(digest, repo string) error {
	b := s.base(digest)
	raw, err := os.ReadFile(b + ".repos")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read repositories of %s: %w", digest, err)
	}
	if slices.Contains(strings.Split(string(raw), "\n"), repo) {
		return nil
	}
	raw = append(raw, repo+"\n"...)
	tmp := b + ".repos.tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("record repository of %s: %w", digest, err)
	}
	if err := os.Rename(tmp, b+".repos"); err != nil {
		return fmt.Errorf("record repository of %s: %w", digest, err)
	}
	return nil
}

// verifyLayers downloads img's config and layers from its registry and
// checks them against their digests, keeping nothing: proof that the
// registry has them, without unpacking or building a disk.
func verifyLayers(img v1.Image) error {
	if _, err := img.RawConfigFile(); err != nil {
		return fmt.Errorf("fetch config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("list layers: %w", err)
	}
	for _, l := range layers {
		if err := drain(l); err != nil {
			return err
		}
	}
	return nil
}

func drain(l v1.Layer) error {
	d, _ := l.Digest()
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("fetch layer %s: %w", d, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("fetch layer %s: %w", d, err)
	}
	return nil
}
