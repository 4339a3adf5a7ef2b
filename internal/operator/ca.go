package operator

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// caSealContext binds the sealed CA key to its use, so that no other
// sealed value can be passed off as it.
const caSealContext = "cluster-ca-key"

// Lifetimes of what the CA issues: nodes renew theirs on every agent
// start, edges by enrolling again, the operator on every start.
const (
	hostCertTTL     = 365 * 24 * time.Hour
	operatorCertTTL = 90 * 24 * time.Hour
)

// clusterCA caches the CA in a replica.
type clusterCA struct {
	mu sync.Mutex
	ca *pki.CA
}

// CA returns the cluster's CA, making it on first use: every replica
// reads the same row, the first insert wins.
func (o *Operator) CA(ctx context.Context) (*pki.CA, error) {
	o.caCache.mu.Lock()
	defer o.caCache.mu.Unlock()
	if o.caCache.ca != nil {
		return o.caCache.ca, nil
	}
	row, err := o.store.GetClusterCA(ctx)
	if isNotFound(store.Classify(err)) {
		if err := o.makeCA(ctx); err != nil {
			return nil, err
		}
		row, err = o.store.GetClusterCA(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("load cluster ca: %w", err)
	}
	keyDER, err := o.cfg.Sealer.Open(row.KeySealed, caSealContext)
	if err != nil {
		return nil, fmt.Errorf("unseal cluster ca key (is ZEITWORK_SEAL_KEY the installation's?): %w", err)
	}
	ca, err := pki.LoadCA(row.CertPem, keyDER)
	if err != nil {
		return nil, err
	}
	o.caCache.ca = ca
	return ca, nil
}

// makeCA stores a new CA unless another replica just did.
func (o *Operator) makeCA(ctx context.Context) error {
	fresh, keyDER, err := pki.NewCA("Zeitwork cluster CA")
	if err != nil {
		return err
	}
	_, err = o.store.InsertClusterCA(ctx, db.InsertClusterCAParams{
		CertPem: fresh.PEM, KeySealed: o.cfg.Sealer.Seal(keyDER, caSealContext),
	})
	if err != nil {
		return fmt.Errorf("store cluster ca: %w", err)
	}
	return nil
}

// ServerTLS is a TLS configuration for the operator's API with a fresh
// certificate from the cluster's CA, valid for hosts (names or addresses
// nodes and edges dial). The chain includes the CA, so that a host
// enrolling with a join token can check the token's pin against it.
func (o *Operator) ServerTLS(ctx context.Context, hosts []string) (*tls.Config, error) {
	ca, err := o.CA(ctx)
	if err != nil {
		return nil, err
	}
	// The operator resolves images from its own registry, now over TLS.
	if err := o.egress.TrustCA(ca.PEM); err != nil {
		return nil, err
	}
	keyPEM, certPEM, err := ca.Issue(pki.Request{Role: pki.RoleOperator, ID: o.id, Hosts: hosts, TTL: operatorCertTTL})
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(append(certPEM, ca.PEM...), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("operator certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}
