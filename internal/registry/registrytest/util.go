package registrytest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"strconv"
)

func itoa(n int) string { return strconv.Itoa(n) }

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
