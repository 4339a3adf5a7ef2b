package edgetls

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/zeitwork/zeitwork/internal/api"
)

// failureBackoff keeps a name whose issuance or renewal failed from being
// ordered again at every handshake: certmagic's own retries run inside the
// handshake that asked (holding the client for up to 3 minutes, one order
// a retry), so issuance here tries once per call (onceIssuer) and this
// backoff decides when a later handshake may try again. It gates the
// issuer, not certmagic's decision function: a name the decision refuses
// loses its cached certificate, which a failed renewal must not cost.
// With the operator's storage (reporter), the next try is the operator's,
// which counts failures across edges (api.CertRetrySteps), and an edge
// asks it before ordering (onceIssuer.shared): the edges back off
// together. Without it, the steps are counted here, per edge.
type failureBackoff struct {
	mu    sync.Mutex
	names map[string]*failure
	now   func() time.Time
}

type failure struct {
	step int
	next time.Time
	err  string
}

// backoffSteps are the waits after the 1st, 2nd... consecutive failure.
var backoffSteps = api.CertRetrySteps

func newFailureBackoff() *failureBackoff {
	return &failureBackoff{names: map[string]*failure{}, now: time.Now}
}

// failed records a failure of name and schedules its next try.
func (b *failureBackoff) failed(name, msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.names[name]
	if f == nil {
		f = &failure{step: -1}
		b.names[name] = f
	}
	if f.step < len(backoffSteps)-1 {
		f.step++
	}
	f.next, f.err = b.now().Add(backoffSteps[f.step]), msg
}

// until records a failure of name whose next try is at next (the
// operator's schedule).
func (b *failureBackoff) until(name, msg string, next time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.names[name]
	if f == nil {
		f = &failure{step: -1}
		b.names[name] = f
	}
	f.next, f.err = next, msg
}

// succeeded forgets name's failures.
func (b *failureBackoff) succeeded(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.names, name)
}

// backingOff is the error of a try refused while a name waits.
type backingOff struct {
	name, last string
	next       time.Time
}

func (e *backingOff) Error() string {
	return fmt.Sprintf("issuance for %q failed (%s); next try after %s", e.name, e.last, e.next.UTC().Format(time.RFC3339))
}

// check returns a *backingOff while name waits for its next try.
func (b *failureBackoff) check(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.names[name]
	if f == nil || !b.now().Before(f.next) {
		return nil
	}
	return &backingOff{name: name, last: f.err, next: f.next}
}

// onceIssuer is an ACME issuer whose failures certmagic does not retry
// within the same call (certmagic.ErrNoRetry), and that asks the CA
// nothing for a name waiting in failureBackoff. The embedded issuer keeps
// its other abilities (PreCheck, Revoke).
type onceIssuer struct {
	*certmagic.ACMEIssuer
	fails *failureBackoff
	// shared, if set, asks the operator whether name waits for a try
	// that another edge's failure scheduled, and records it in fails.
	shared func(ctx context.Context, name string)
}

func (i onceIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	for _, name := range csr.DNSNames {
		if i.shared != nil {
			i.shared(ctx, name)
		}
		if err := i.fails.check(name); err != nil {
			return nil, certmagic.ErrNoRetry{Err: err}
		}
	}
	c, err := i.ACMEIssuer.Issue(ctx, csr)
	if err != nil {
		return nil, certmagic.ErrNoRetry{Err: err}
	}
	return c, nil
}

// next is when name may be tried again (zero: now).
func (b *failureBackoff) next(name string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f := b.names[name]; f != nil {
		return f.next
	}
	return time.Time{}
}
