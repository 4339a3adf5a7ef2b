package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// certStatus is a domain's CERT column.
func certStatus(c api.CertificateState) string {
	if c.Status == "" {
		return api.CertPending
	}
	return c.Status
}

// certExpiry is a domain's EXPIRES column: the served certificate's
// expiry day, or "-".
func certExpiry(c api.CertificateState) string {
	if c.ExpiresAt == nil {
		return "-"
	}
	if !c.ExpiresAt.After(time.Now()) {
		return "expired " + c.ExpiresAt.UTC().Format("2006-01-02")
	}
	return c.ExpiresAt.UTC().Format("2006-01-02")
}

// domainReason is a domain's REASON column: why it is not verified, and
// why its certificate failed and when the edges try again.
func domainReason(d api.Domain) string {
	var parts []string
	if d.Reason != "" {
		parts = append(parts, d.Reason)
	}
	if c := d.Certificate; c.Status == api.CertFailed {
		msg := "certificate: " + c.LastError
		if c.NextAttemptAt != nil {
			msg += "; next try " + ahead(*c.NextAttemptAt)
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}

// ahead says how far ahead t is ("in 4m"), or "now" when it has passed.
func ahead(t time.Time) string {
	d := time.Until(t).Round(time.Second)
	switch {
	case d <= 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("in %ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d.Minutes()))
	}
	return fmt.Sprintf("in %dh", int(d.Hours()))
}
