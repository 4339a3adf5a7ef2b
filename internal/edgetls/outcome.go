package edgetls

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Issuance outcomes: reported to the operator (api.CertStatus), which
// shows them in `zeitwork domains list` and schedules the next try of a
// name that failed for every edge.

// decide is certmagic's on-demand decision: the issuance policy first
// (Config.Allowed: never a name that is not routed), then the backoff of
// a name without a certificate in this edge's cache, so that a handshake
// for a name that failed costs neither an ACME order nor a key, a lock
// and the storage round trips of an attempt. A cached name passes: the
// decision refusing it would evict its certificate, and its renewals are
// paced by onceIssuer.
func (m *Manager) decide(ctx context.Context, name string) error {
	if !m.cfg.Allowed(name) {
		return fmt.Errorf("no route for %q: no certificate is issued for it", name)
	}
	if err := m.fails.check(name); err != nil && len(m.cache.AllMatchingCertificates(name)) == 0 {
		return err
	}
	return nil
}

// sharedBackoff records in m.fails a next try of name that the operator
// scheduled after another edge's failure. An operator it cannot ask
// leaves the decision to the local backoff (the storage, on that same
// operator, fails the attempt anyway).
func (m *Manager) sharedBackoff(ctx context.Context, name string) {
	a, err := m.status.Attempt(ctx, name)
	if err != nil {
		m.cfg.Log.Warn("edgetls: ask for the next attempt", "name", name, "err", err)
		return
	}
	if a.NextAttemptAt != nil && time.Now().Before(*a.NextAttemptAt) {
		m.fails.until(name, a.LastError, *a.NextAttemptAt)
	}
}

// onEvent records the outcome of every issuance at the operator and in
// the log, and paces the next try of a name that failed (failureBackoff).
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_obtained":
		m.obtained(ctx, name, data)
	case "cert_failed":
		var waiting *backingOff
		if err, _ := data["error"].(error); errors.As(err, &waiting) {
			return nil // a try refused by the backoff: nothing new to record
		}
		m.failed(ctx, name, data)
	}
	return nil
}

func (m *Manager) obtained(ctx context.Context, name string, data map[string]any) {
	m.fails.succeeded(name)
	var expires *time.Time
	if path, ok := data["certificate_path"].(string); ok {
		if t, err := m.expiry(ctx, path); err != nil {
			m.cfg.Log.Warn("edgetls: read the new certificate's expiry", "name", name, "err", err)
		} else {
			expires = &t
		}
	}
	m.cfg.Log.Info("edgetls: certificate obtained", "name", name, "renewal", data["renewal"], "expires", expires)
	if m.status != nil {
		if _, err := m.status.ReportStatus(ctx, api.CertStatus{Name: name, ExpiresAt: expires}); err != nil {
			m.cfg.Log.Warn("edgetls: report certificate status", "name", name, "err", err)
		}
	}
}

func (m *Manager) failed(ctx context.Context, name string, data map[string]any) {
	msg := fmt.Sprint(data["error"])
	if m.status == nil {
		m.fails.failed(name, msg)
		m.cfg.Log.Warn("edgetls: certificate failed", "name", name, "renewal", data["renewal"], "err", msg)
		return
	}
	a, err := m.status.ReportStatus(ctx, api.CertStatus{Name: name, Error: msg})
	if err != nil || a.NextAttemptAt == nil {
		m.cfg.Log.Warn("edgetls: report certificate status", "name", name, "err", err)
		m.fails.failed(name, msg)
	} else {
		m.fails.until(name, msg, *a.NextAttemptAt)
	}
	m.cfg.Log.Warn("edgetls: certificate failed", "name", name, "renewal", data["renewal"], "err", msg,
		"next_attempt", m.fails.next(name))
}

// expiry is the NotAfter of the leaf certificate stored at path.
func (m *Manager) expiry(ctx context.Context, path string) (time.Time, error) {
	data, err := m.cfg.Storage.Load(ctx, path)
	if err != nil {
		return time.Time{}, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return time.Time{}, fmt.Errorf("certificate %s is not PEM", path)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse certificate %s: %w", path, err)
	}
	return leaf.NotAfter, nil
}
