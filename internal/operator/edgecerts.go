package operator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// The edges' certificate storage (docs/design.md, TLS): certmagic's keys
// as values sealed with the operator's key, issuance locks with leases,
// and the last issuance error per name. Only edge tokens reach it.

const (
	maxCertValue = 1 << 20 // certificates, keys and ACME metadata are KiBs
	maxCertKey   = 1024
	// maxLockTTL bounds a lease, so a lock cannot be taken for ever.
	maxLockTTL = 600.0
)

// certSealContext binds a sealed value to its key: a value copied to
// another row does not open.
func certSealContext(key string) string { return "edge-cert:" + key }

// certKey is the request's ?key=, checked.
func certKey(r *http.Request) (string, error) {
	k := r.URL.Query().Get("key")
	if k == "" || len(k) > maxCertKey || strings.ContainsRune(k, 0) {
		return "", invalid("pass ?key= (1 to 1024 bytes)", "bad certificate storage key %q", k)
	}
	return k, nil
}

func (o *Operator) getEdgeCert(w http.ResponseWriter, r *http.Request) error {
	key, err := certKey(r)
	if err != nil {
		return err
	}
	row, err := db.New(o.store.Pool).GetEdgeCert(r.Context(), key)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("", "no certificate storage key %q", key)
	}
	if err != nil {
		return fmt.Errorf("get edge cert %s: %w", key, err)
	}
	plain, err := o.cfg.Sealer.Open(row.Sealed, certSealContext(key))
	if err != nil {
		return fmt.Errorf("open edge cert %s: %w", key, err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(plain)
	return nil
}

func (o *Operator) putEdgeCert(w http.ResponseWriter, r *http.Request) error {
	key, err := certKey(r)
	if err != nil {
		return err
	}
	value, err := io.ReadAll(io.LimitReader(r.Body, maxCertValue+1))
	if err != nil {
		return fmt.Errorf("read edge cert %s: %w", key, err)
	}
	if len(value) > maxCertValue {
		return tooLarge("certificate storage values are at most 1 MiB", "value of %q is too large", key)
	}
	err = db.New(o.store.Pool).PutEdgeCert(r.Context(), db.PutEdgeCertParams{
		Key: key, Sealed: o.cfg.Sealer.Seal(value, certSealContext(key)), Size: int64(len(value)),
	})
	if err != nil {
		return fmt.Errorf("put edge cert %s: %w", key, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteEdgeCert deletes a key or, for a directory, every key under it.
func (o *Operator) deleteEdgeCert(w http.ResponseWriter, r *http.Request) error {
	key, err := certKey(r)
	if err != nil {
		return err
	}
	// A key that is not there is deleted already (as os.RemoveAll).
	if _, err := db.New(o.store.Pool).DeleteEdgeCerts(r.Context(), key); err != nil {
		return fmt.Errorf("delete edge cert %s: %w", key, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// statEdgeCert describes a key; a prefix of other keys is a directory.
func (o *Operator) statEdgeCert(w http.ResponseWriter, r *http.Request) error {
	key, err := certKey(r)
	if err != nil {
		return err
	}
	q := db.New(o.store.Pool)
	row, err := q.GetEdgeCert(r.Context(), key)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, api.CertKeyInfo{Key: key, Modified: row.ModifiedAt, Size: row.Size, IsTerminal: true})
		return nil
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("stat edge cert %s: %w", key, err)
	}
	keys, err := q.ListEdgeCertKeys(r.Context(), key)
	if err != nil {
		return fmt.Errorf("stat edge cert %s: %w", key, err)
	}
	if len(keys) == 0 {
		return notFound("", "no certificate storage key %q", key)
	}
	writeJSON(w, http.StatusOK, api.CertKeyInfo{Key: key})
	return nil
}

// listEdgeCerts lists every key under ?prefix= (all keys for none); the
// edge derives a directory's direct children from it.
func (o *Operator) listEdgeCerts(w http.ResponseWriter, r *http.Request) error {
	prefix := strings.TrimSuffix(r.URL.Query().Get("prefix"), "/")
	keys, err := db.New(o.store.Pool).ListEdgeCertKeys(r.Context(), prefix)
	if err != nil {
		return fmt.Errorf("list edge certs %s: %w", prefix, err)
	}
	if keys == nil {
		keys = []string{}
	}
	writeJSON(w, http.StatusOK, api.CertKeys{Keys: keys})
	return nil
}
