package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

// caFile holds the running command's --ca-file (ZEITWORK_CA_FILE by
// default), set before it runs; it overrides the login's ca_file. The
// process runs one command; tests that run several at once all set the
// same value, hence an atomic rather than a plain string.
var caFile atomic.Pointer[string]

// caFileFlag is the running command's --ca-file ("" for none).
func caFileFlag() string {
	if p := caFile.Load(); p != nil {
		return *p
	}
	return ""
}

// caFileHint names the ways to trust an operator's private CA.
const caFileHint = "pass the CA that signed the operator's certificate with --ca-file FILE (or ZEITWORK_CA_FILE), " +
	"e.g. /var/lib/zeitwork/tls/root.pem for `zeitwork up`; `zeitwork login --ca-file` keeps it"

// addCAFileFlag adds --ca-file to a top-level command and its subcommands.
func addCAFileFlag(c *cobra.Command) {
	c.PersistentFlags().String("ca-file", os.Getenv("ZEITWORK_CA_FILE"),
		"PEM file of CA certificates to trust for the operator's HTTPS, besides the system's (e.g. /var/lib/zeitwork/tls/root.pem)")
}

// caFileOf is the command's --ca-file.
func caFileOf(cmd *cobra.Command) string {
	f, _ := cmd.Flags().GetString("ca-file")
	return f
}

// httpClient is a client for the operator that trusts the system's CAs
// and, with cfg.CAFile, the CA certificates in that file: a self-hosted
// operator's certificate is often from a private CA. timeout 0: none.
func httpClient(cfg Config, timeout time.Duration) (*http.Client, error) {
	hc := &http.Client{Timeout: timeout}
	if cfg.CAFile == "" {
		return hc, nil
	}
	pool, err := caPool(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	hc.Transport = tr
	return hc, nil
}

// caPool is the system's CA pool plus the certificates in file.
func caPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, &UserError{Msg: fmt.Sprintf("read CA file: %v", err), Hint: "give --ca-file (or ZEITWORK_CA_FILE, or ca_file in " + ConfigPath() + ") a readable PEM file of CA certificates"}
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system pool: the file alone
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, &UserError{Msg: fmt.Sprintf("CA file %s holds no PEM certificate", file), Hint: "give --ca-file a PEM file (-----BEGIN CERTIFICATE-----), such as the operator's root.pem"}
	}
	return pool, nil
}

// absCAFile makes a --ca-file kept in the login independent of the
// directory later commands run in.
func absCAFile(file string) string {
	if file == "" {
		return ""
	}
	if abs, err := filepath.Abs(file); err == nil {
		return abs
	}
	return file
}

// untrustedCA reports whether err is a certificate from a CA not trusted.
func untrustedCA(err error) bool {
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &cv)
}
