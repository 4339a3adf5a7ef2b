package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Issuance outcomes per name (docs/design.md, TLS). The edges report each
// success (with the certificate's expiry) and failure; the operator counts
// failures in a row and sets the next attempt from api.CertRetrySteps, so
// that the backoff is shared: an edge that never tried a name still waits
// for the attempt another edge's failure scheduled.

// retryStepSeconds is api.CertRetrySteps for the query.
func retryStepSeconds() []float64 {
	out := make([]float64, len(api.CertRetrySteps))
	for i, d := range api.CertRetrySteps {
		out[i] = d.Seconds()
	}
	return out
}

// reportEdgeCert records an issuance outcome and answers with the name's
// next attempt.
func (o *Operator) reportEdgeCert(w http.ResponseWriter, r *http.Request) error {
	var s api.CertStatus
	if err := readJSON(r, &s); err != nil {
		return err
	}
	if s.Name == "" || len(s.Name) > 255 {
		return invalid("send the name the certificate is for", "bad certificate status")
	}
	if len(s.Error) > 2000 {
		s.Error = s.Error[:2000]
	}
	q := db.New(o.store.Pool)
	var row db.EdgeCertStatus
	var err error
	if s.Error == "" {
		row, err = q.RecordEdgeCertObtained(r.Context(), db.RecordEdgeCertObtainedParams{Name: s.Name, ExpiresAt: s.ExpiresAt})
	} else {
		row, err = q.RecordEdgeCertFailure(r.Context(), db.RecordEdgeCertFailureParams{Name: s.Name, LastError: s.Error, Steps: retryStepSeconds()})
	}
	if err != nil {
		return fmt.Errorf("record certificate status %s: %w", s.Name, err)
	}
	writeJSON(w, http.StatusOK, certAttempt(row))
	return nil
}

// getEdgeCertStatus tells an edge about to order a certificate whether
// the name is waiting for its next attempt.
func (o *Operator) getEdgeCertStatus(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("name")
	if name == "" || len(name) > 255 {
		return invalid("pass ?name= (1 to 255 bytes)", "bad certificate name %q", name)
	}
	row, err := db.New(o.store.Pool).GetEdgeCertStatus(r.Context(), name)
	if errors.Is(err, pgx.ErrNoRows) {
		row = db.EdgeCertStatus{Name: name}
	} else if err != nil {
		return fmt.Errorf("get certificate status %s: %w", name, err)
	}
	writeJSON(w, http.StatusOK, certAttempt(row))
	return nil
}

func certAttempt(row db.EdgeCertStatus) api.CertAttempt {
	return api.CertAttempt{Name: row.Name, Failures: int(row.Failures), LastError: row.LastError, NextAttemptAt: row.NextAttemptAt}
}

// certState is a host's certificate as its row says (found false: no
// edge has reported on it yet).
func certState(row db.EdgeCertStatus, found bool) api.CertificateState {
	c := api.CertificateState{Status: api.CertPending}
	if !found {
		return c
	}
	c.IssuedAt, c.ExpiresAt = row.IssuedAt, row.ExpiresAt
	if row.LastError != "" {
		c.Status, c.LastError, c.LastErrorAt, c.NextAttemptAt = api.CertFailed, row.LastError, row.LastErrorAt, row.NextAttemptAt
	} else if row.IssuedAt != nil {
		c.Status = api.CertIssued
	}
	return c
}

// certStates are the certificate states of names, by name.
func (o *Operator) certStates(ctx context.Context, names []string) (map[string]api.CertificateState, error) {
	rows, err := db.New(o.store.Pool).ListEdgeCertStatusByNames(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("list certificate states: %w", err)
	}
	found := make(map[string]db.EdgeCertStatus, len(rows))
	for _, row := range rows {
		found[row.Name] = row
	}
	out := make(map[string]api.CertificateState, len(names))
	for _, n := range names {
		row, ok := found[n]
		out[n] = certState(row, ok)
	}
	return out, nil
}
