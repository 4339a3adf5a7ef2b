package registry

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
)

// anyDigestPattern is the digest grammar of the OCI image spec: routes
// accept every well-formed digest, and handlers answer 400 DIGEST_INVALID
// for one the registry cannot verify (validDigest), as the distribution
// spec asks.
const anyDigestPattern = `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`

// algorithms are the digest algorithms the registry verifies, with the
// length of their hex encoding.
var algorithms = map[string]struct {
	new    func() hash.Hash
	hexLen int
}{
	"sha256": {sha256.New, 64},
	"sha512": {sha512.New, 128},
}

// validDigest reports whether d is a digest of a supported algorithm in
// canonical form (lowercase hex of the right length).
func validDigest(d string) bool {
	algo, h := splitDigest(d)
	a, ok := algorithms[algo]
	if !ok || len(h) != a.hexLen {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// newHash returns the hash for a valid digest's algorithm.
func newHash(digest string) hash.Hash {
	algo, _ := splitDigest(digest)
	return algorithms[algo].new()
}

func hashDigest(algo string, h hash.Hash) string { return algo + ":" + hex.EncodeToString(h.Sum(nil)) }

// digestOf returns data's digest with algorithm algo.
func digestOf(algo string, data []byte) string {
	h := algorithms[algo].new()
	h.Write(data)
	return hashDigest(algo, h)
}
