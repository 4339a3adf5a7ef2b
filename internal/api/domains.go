package api

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ChallengePrefix is the label under which a custom domain's ownership
// token is published: "_zeitwork-challenge.<domain> TXT <token>".
const ChallengePrefix = "_zeitwork-challenge."

// Domain states (docs/api.md, "Custom domains"). Only verified and failing
// domains are routed.
const (
	DomainPending  = "pending"
	DomainVerified = "verified"
	DomainFailing  = "failing"
	DomainUnrouted = "unrouted"
)

// AddDomainRequest is the body of POST /v1/projects/{project}/domains.
type AddDomainRequest struct {
	Name string `json:"name"`
	// RedirectTo, if set, makes the domain a redirect: every request is
	// answered with RedirectStatus (301, 302, 307 or 308; default 308)
	// and a Location on this host, with the same path and query.
	RedirectTo     string `json:"redirect_to,omitempty"`
	RedirectStatus int    `json:"redirect_status,omitempty"`
}

// Domain is a project's custom domain and what its DNS must say.
type Domain struct {
	Name           string      `json:"name"`
	Project        string      `json:"project"`
	Status         string      `json:"status"`
	Reason         string      `json:"reason,omitempty"`
	Routed         bool        `json:"routed"`
	RedirectTo     string      `json:"redirect_to,omitempty"`
	RedirectStatus int         `json:"redirect_status,omitempty"`
	Records        []DNSRecord `json:"records"`
	VerifiedAt     *time.Time  `json:"verified_at,omitempty"`
	CheckedAt      *time.Time  `json:"checked_at,omitempty"`
	FailingSince   *time.Time  `json:"failing_since,omitempty"`
	NextCheckAt    time.Time   `json:"next_check_at"`
	CreatedAt      time.Time   `json:"created_at"`
	// Certificate is the domain's HTTPS certificate as the edges report
	// it (pending until the first HTTPS request after it is routed).
	Certificate CertificateState `json:"certificate"`
}

// DNSRecord is one record the domain's owner must publish.
type DNSRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"` // CNAME, A, AAAA or TXT
	Value string `json:"value"`
}

// ParseDomain returns name in the form the route table uses (lower case,
// no trailing dot) if it can be a custom domain: an ASCII host name of at
// least two labels of letters, digits and inner hyphens, at most 253
// bytes, whose last label is not numeric (so no IP address). Internationalised
// names are given in their punycode ("xn--") form; wildcards and
// underscores are refused, since neither is a host a browser asks for.
func ParseDomain(name string) (string, error) {
	name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if name == "" {
		return "", errors.New("empty domain name")
	}
	if len(name) > 253 {
		return "", fmt.Errorf("domain name is %d bytes long, at most 253 are allowed", len(name))
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%q has one label; give a full domain such as example.com", name)
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("%q: %w", name, err)
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("%q looks like an IP address; give a domain name", name)
	}
	return name, nil
}

func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label (two dots in a row, or a leading dot)")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q is longer than 63 bytes", l)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return fmt.Errorf("label %q holds %q: use letters, digits and hyphens (punycode for international names)", l, c)
		}
	}
	return nil
}

// ValidRedirectStatus reports whether code may answer for a redirect domain.
func ValidRedirectStatus(code int) bool {
	return code == 301 || code == 302 || code == 307 || code == 308
}
