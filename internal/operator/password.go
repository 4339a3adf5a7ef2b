package operator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/zeitwork/zeitwork/internal/api"
)

// argonParams are argon2id's costs. The defaults are OWASP's first
// recommendation (Password Storage Cheat Sheet): 19 MiB, two passes, one
// lane. They are stored in each hash (PHC form), so raising them later
// leaves existing hashes verifiable.
type argonParams struct {
	memoryKiB uint32
	passes    uint32
	lanes     uint8
}

var defaultArgon = argonParams{memoryKiB: 19 * 1024, passes: 2, lanes: 1}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
	// maxPasswordBytes bounds what is hashed: argon2 takes any length, but
	// a megabyte "password" is a request to waste the operator's time.
	maxPasswordBytes = 1024
)

var errBadHash = errors.New("not an argon2id hash in PHC form")

// hashPassword returns pw's argon2id hash in PHC form:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded base64).
func hashPassword(pw string, p argonParams) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, p.passes, p.memoryKiB, p.lanes, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memoryKiB, p.passes, p.lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// verifyPassword reports whether pw matches the PHC hash, comparing in
// constant time.
func verifyPassword(phc, pw string) (bool, error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.passes, p.memoryKiB, p.lanes, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// parsePHC reads a hash hashPassword made, with its costs bounded so that
// a corrupt row cannot make a verification take the machine.
func parsePHC(phc string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memoryKiB, &p.passes, &p.lanes); err != nil {
		return p, nil, nil, errBadHash
	}
	if p.memoryKiB < 8 || p.memoryKiB > 1<<20 || p.passes < 1 || p.passes > 20 || p.lanes < 1 {
		return p, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// validPassword checks a new password: long enough, not absurdly long.
func validPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < api.MinPasswordLength:
		return invalid(fmt.Sprintf("choose a password of at least %d characters; a phrase of several words is easy to remember", api.MinPasswordLength),
			"the password is too short")
	case len(pw) > maxPasswordBytes:
		return invalid(fmt.Sprintf("choose a password of at most %d bytes", maxPasswordBytes), "the password is too long")
	}
	return nil
}

// dummyHash is verified against when the e-mail address is unknown (or
// has no password), so that such a sign-in takes as long as a wrong
// password and the answer's timing does not tell which addresses exist.
type dummyHash struct {
	once sync.Once
	phc  string
}

func (d *dummyHash) get(p argonParams) string {
	d.once.Do(func() { d.phc = hashPassword("zeitwork dummy password", p) })
	return d.phc
}
