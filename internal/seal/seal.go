// Package seal encrypts secrets at rest with AES-256-GCM. The key lives in
// the operator's configuration, never in the database, so a copy of the
// database alone does not reveal env vars. Each sealed value is bound to its
// context (project and name) as additional data, so a ciphertext copied to
// another row does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// KeySize is the length of a key in bytes.
const KeySize = 32

// Sealer seals and opens values with one key.
type Sealer struct {
	aead cipher.AEAD
	prk  []byte // HKDF pseudorandom key for Derive
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, key, nil)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, prk: prk}, nil
}

// Derive returns a 32-byte secret for label (HKDF-SHA256 of the key), the
// same in every process with the key: operator replicas share secrets
// such as their registry credential without storing them anywhere. A
// derived secret reveals neither the key nor other labels' secrets.
func (s *Sealer) Derive(label string) []byte {
	out, err := hkdf.Expand(sha256.New, s.prk, label, 32)
	if err != nil {
		panic(err) // only for lengths over 255*32
	}
	return out
}

// ParseKey decodes a base64 key as written in configuration.
func ParseKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("seal key is not base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal key must decode to %d bytes, got %d", KeySize, len(key))
	}
	return key, nil
}

// NewKey returns a fresh random key, base64-encoded.
func NewKey() string {
	key := make([]byte, KeySize)
	rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}

// Seal encrypts plaintext bound to context; the nonce is prepended.
func (s *Sealer) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, []byte(context))
}

// Open decrypts a value sealed with the same key and context.
func (s *Sealer) Open(sealed []byte, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("open sealed value: too short")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("open sealed value: wrong key or tampered data: %w", err)
	}
	return out, nil
}
