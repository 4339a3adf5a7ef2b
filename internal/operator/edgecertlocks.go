package operator

import (
	"fmt"
	"net/http"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Issuance locks: a row per name with a holder and a lease. Taking a lock
// succeeds only when no row exists or its lease has run out, in one
// statement, so two edges never both hold a name.

func readCertLock(r *http.Request, needTTL bool) (api.CertLock, error) {
	var l api.CertLock
	if err := readJSON(r, &l); err != nil {
		return l, err
	}
	if l.Name == "" || len(l.Name) > maxCertKey || l.Holder == "" || len(l.Holder) > 128 {
		return l, invalid("send a name (1 to 1024 bytes) and a holder (1 to 128 bytes)", "bad lock request")
	}
	if needTTL && (l.TTLSeconds <= 0 || l.TTLSeconds > maxLockTTL) {
		return l, invalid("ttl_seconds is between 0 and 600", "bad lock lease %v", l.TTLSeconds)
	}
	return l, nil
}

func (o *Operator) lockEdgeCert(w http.ResponseWriter, r *http.Request) error {
	l, err := readCertLock(r, true)
	if err != nil {
		return err
	}
	n, err := db.New(o.store.Pool).AcquireEdgeCertLock(r.Context(), db.AcquireEdgeCertLockParams{
		Name: l.Name, Holder: l.Holder, TtlSeconds: l.TTLSeconds,
	})
	if err != nil {
		return fmt.Errorf("lock %s: %w", l.Name, err)
	}
	writeJSON(w, http.StatusOK, api.CertLockResult{Held: n == 1})
	return nil
}

func (o *Operator) refreshEdgeCertLock(w http.ResponseWriter, r *http.Request) error {
	l, err := readCertLock(r, true)
	if err != nil {
		return err
	}
	n, err := db.New(o.store.Pool).RefreshEdgeCertLock(r.Context(), db.RefreshEdgeCertLockParams{
		Name: l.Name, Holder: l.Holder, TtlSeconds: l.TTLSeconds,
	})
	if err != nil {
		return fmt.Errorf("refresh lock %s: %w", l.Name, err)
	}
	writeJSON(w, http.StatusOK, api.CertLockResult{Held: n == 1})
	return nil
}

func (o *Operator) unlockEdgeCert(w http.ResponseWriter, r *http.Request) error {
	l, err := readCertLock(r, false)
	if err != nil {
		return err
	}
	if _, err := db.New(o.store.Pool).ReleaseEdgeCertLock(r.Context(), db.ReleaseEdgeCertLockParams{
		Name: l.Name, Holder: l.Holder,
	}); err != nil {
		return fmt.Errorf("unlock %s: %w", l.Name, err)
	}
	writeJSON(w, http.StatusOK, api.CertLockResult{Held: false})
	return nil
}
