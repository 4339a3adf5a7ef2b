package pki

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// TunnelServer is a node's tunnel listener's TLS: it presents the node's
// certificate and accepts only clients with an edge certificate of the
// cluster's CA.
func TunnelServer(c *Credential) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    c.Pool,
		// Edges pool their connections instead of resuming sessions; no
		// ticket arrives on an idle pooled connection (edge's alive check).
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return wantRole(cs, RoleEdge)
		},
	}
}

// TunnelClient is an edge's TLS towards nodes: it presents the edge's
// certificate and accepts only a node certificate of the cluster's CA
// valid for the address dialled (tls.Config.ServerName, set per dial).
func TunnelClient(c *Credential) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		RootCAs:      c.Pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return wantRole(cs, RoleNode)
		},
	}
}

// OperatorClient trusts the operator's API certificate, issued by the
// cluster's CA.
func OperatorClient(pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return wantRole(cs, RoleOperator)
		},
	}
}

// PinnedOperatorClient is the TLS of an enrolment, before the host knows
// the CA: the operator must present a chain ending in the CA whose pin the
// join token carries.
func PinnedOperatorClient(joinToken string) (*tls.Config, error) {
	pin, ok := TokenPin(joinToken)
	if !ok {
		return nil, errors.New("the join token carries no CA pin: make a new one with `zeitwork nodes join-token`")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verified below, against the pinned CA instead of the system's.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) < 2 {
				return errors.New("operator sent no CA certificate to check the join token's pin against")
			}
			ca := cs.PeerCertificates[len(cs.PeerCertificates)-1]
			if PinOf(ca) != pin {
				return errors.New("operator's CA does not match the join token's pin")
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: pool, DNSName: cs.ServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				return fmt.Errorf("operator certificate: %w", err)
			}
			return wantRole(cs, RoleOperator)
		},
	}, nil
}

// TokenPin is the CA pin a join token carries ("<secret>.<pin>").
func TokenPin(token string) (string, bool) {
	_, pin, ok := strings.Cut(token, ".")
	if !ok || len(pin) != 2*sha256.Size {
		return "", false
	}
	if _, err := hex.DecodeString(pin); err != nil {
		return "", false
	}
	return pin, true
}

// wantRole checks the peer's leaf certificate names the role.
func wantRole(cs tls.ConnectionState, role string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no peer certificate")
	}
	got, _, ok := RoleOf(cs.PeerCertificates[0])
	if !ok || got != role {
		return fmt.Errorf("peer certificate is for %q, want a %s certificate", got, role)
	}
	return nil
}
