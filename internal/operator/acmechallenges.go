package operator

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// ACME DNS-01 challenges for the apps zone (docs/design.md, GeoDNS): edges
// present TXT values here while they get a wildcard certificate, and the
// DNS servers (zeitwork dns) read them and answer for them. Reading is
// public: a presented value is published in DNS for anyone to query, so
// the list tells nothing DNS does not, and the DNS servers need no
// credential.

const (
	// acmeChallengeTTL is how long a value lives that an edge never
	// cleaned up: longer than any ACME validation takes.
	acmeChallengeTTL = time.Hour
	// maxACMEChallenges bounds the live values, so an edge token cannot
	// grow the table or the DNS answers without limit.
	maxACMEChallenges = 100
	maxACMEValue      = 255
)

// acmeChallenge reads and checks the body: a challenge name in the apps
// zone and a value that fits one TXT string.
func (o *Operator) acmeChallenge(r *http.Request) (api.ACMEChallenge, error) {
	var c api.ACMEChallenge
	if err := readJSONLimit(r, &c, 4096); err != nil {
		return c, err
	}
	c.Name = strings.ToLower(strings.TrimSuffix(c.Name, "."))
	zone := strings.ToLower(o.cfg.AppsDomain)
	if !strings.HasPrefix(c.Name, api.ACMEChallengePrefix) || !(c.Name == api.ACMEChallengePrefix+zone || strings.HasSuffix(c.Name, "."+zone)) || len(c.Name) > 253 {
		return c, invalid("give _acme-challenge."+zone+" or _acme-challenge.<host>."+zone, "challenge name %q is not in the apps zone %s", c.Name, zone)
	}
	if c.Value == "" || len(c.Value) > maxACMEValue || !printableASCII(c.Value) {
		return c, invalid("give the key authorization digest (base64url, 43 characters)", "bad challenge value %q", c.Value)
	}
	return c, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func (o *Operator) presentACMEChallenge(w http.ResponseWriter, r *http.Request) error {
	c, err := o.acmeChallenge(r)
	if err != nil {
		return err
	}
	q := db.New(o.store.Pool)
	if _, err := q.PruneACMEChallenges(r.Context()); err != nil {
		return fmt.Errorf("prune acme challenges: %w", err)
	}
	n, err := q.CountACMEChallenges(r.Context())
	if err != nil {
		return fmt.Errorf("count acme challenges: %w", err)
	}
	if n >= maxACMEChallenges {
		return conflict("clean up finished challenges (DELETE /v1/edge/acme-challenges) or wait an hour for them to expire",
			"%d ACME challenges are live, the most there may be", n)
	}
	err = q.PresentACMEChallenge(r.Context(), db.PresentACMEChallengeParams{Name: c.Name, Value: c.Value, TtlSeconds: acmeChallengeTTL.Seconds()})
	if err != nil {
		return fmt.Errorf("present acme challenge %s: %w", c.Name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (o *Operator) cleanupACMEChallenge(w http.ResponseWriter, r *http.Request) error {
	c, err := o.acmeChallenge(r)
	if err != nil {
		return err
	}
	if _, err := db.New(o.store.Pool).CleanupACMEChallenge(r.Context(), db.CleanupACMEChallengeParams{Name: c.Name, Value: c.Value}); err != nil {
		return fmt.Errorf("clean up acme challenge %s: %w", c.Name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (o *Operator) listACMEChallenges(w http.ResponseWriter, r *http.Request) error {
	rows, err := db.New(o.store.Pool).ListACMEChallenges(r.Context(), maxACMEChallenges)
	if err != nil {
		return fmt.Errorf("list acme challenges: %w", err)
	}
	out := make([]api.ACMEChallenge, 0, len(rows))
	for _, row := range rows {
		out = append(out, api.ACMEChallenge{Name: row.Name, Value: row.Value})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
