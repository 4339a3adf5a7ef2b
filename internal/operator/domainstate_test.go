package operator

import (
	"errors"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// TestDomainNextState: the domain state machine. A failed lookup changes
// no state (a resolver outage unroutes nothing); records that stop
// pointing here make a verified domain failing, then unrouted once the
// grace period is over; failures back off up to the cap.
func TestDomainNextState(t *testing.T) {
	o := &Operator{cfg: Config{Domains: DomainConfig{Grace: time.Hour, Recheck: 10 * time.Minute, RetryMin: time.Minute, RetryMax: 8 * time.Minute}}}
	o.cfg.Domains.defaults()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	bad := domainCheck{reason: "no CNAME record"}
	lookup := errors.New("dns lookup failed: SERVFAIL")
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }

	for _, c := range []struct {
		name    string
		d       db.Domain
		check   domainCheck
		err     error
		status  string
		failing *time.Time
		wait    time.Duration
	}{
		{"pending, lookup fails", db.Domain{Status: api.DomainPending, CreatedAt: now}, domainCheck{}, lookup, api.DomainPending, nil, time.Minute},
		{"verified, lookup fails", db.Domain{Status: api.DomainVerified}, domainCheck{}, lookup, api.DomainVerified, nil, time.Minute},
		{"failing, lookup fails past grace", db.Domain{Status: api.DomainFailing, FailingSince: at(-2 * time.Hour), Failures: 1}, domainCheck{}, lookup, api.DomainFailing, at(-2 * time.Hour), 2 * time.Minute},
		{"pending, found", db.Domain{Status: api.DomainPending, Failures: 5}, domainCheck{ok: true}, nil, api.DomainVerified, nil, 10 * time.Minute},
		{"pending, not found", db.Domain{Status: api.DomainPending, Failures: 2, CreatedAt: now}, bad, nil, api.DomainPending, nil, 4 * time.Minute},
		{"pending, not found, capped", db.Domain{Status: api.DomainPending, Failures: 30, CreatedAt: now}, bad, nil, api.DomainPending, nil, 8 * time.Minute},
		{"verified, records gone", db.Domain{Status: api.DomainVerified}, bad, nil, api.DomainFailing, at(0), time.Minute},
		{"failing, within grace", db.Domain{Status: api.DomainFailing, FailingSince: at(-59*time.Minute - 30*time.Second), Failures: 3}, bad, nil, api.DomainFailing, at(-59*time.Minute - 30*time.Second), 30 * time.Second},
		{"failing, grace over", db.Domain{Status: api.DomainFailing, FailingSince: at(-time.Hour), Failures: 3}, bad, nil, api.DomainUnrouted, nil, 8 * time.Minute},
		{"failing, fixed", db.Domain{Status: api.DomainFailing, FailingSince: at(-time.Minute), Failures: 3}, domainCheck{ok: true}, nil, api.DomainVerified, nil, 10 * time.Minute},
		{"unrouted, found", db.Domain{Status: api.DomainUnrouted, Failures: 9}, domainCheck{ok: true}, nil, api.DomainVerified, nil, 10 * time.Minute},
	} {
		p := o.nextState(c.d, c.check, c.err, now)
		wait := time.Duration(p.NextCheckSeconds * float64(time.Second))
		if p.Status != c.status || wait != c.wait || (p.FailingSince == nil) != (c.failing == nil) ||
			(c.failing != nil && !p.FailingSince.Equal(*c.failing)) || (c.check.ok && (p.Reason != "" || p.Failures != 0)) || (!c.check.ok && p.Reason == "") {
			t.Errorf("%s: got %s, failing since %v, next in %v, %q; want %s, %v, %v", c.name, p.Status, p.FailingSince, wait, p.Reason, c.status, c.failing, c.wait)
		}
	}
}
