package operator

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// listProjectCertificates shows the HTTPS state of the hosts the edges route for
// a project: issued, failed with the last reason, or not yet asked for.
func (o *Operator) listProjectCertificates(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	t, err := o.RouteTable(r.Context())
	if err != nil {
		return err
	}
	var hosts []string
	for _, rt := range t.Routes {
		if rt.Project == p.Name {
			hosts = append(hosts, rt.Host)
		}
	}
	sort.Strings(hosts)
	rows, err := db.New(o.store.Pool).ListEdgeCertStatusByNames(r.Context(), hosts)
	if err != nil {
		return fmt.Errorf("list certificates of %s: %w", p.Name, err)
	}
	byName := make(map[string]db.EdgeCertStatus, len(rows))
	for _, row := range rows {
		byName[row.Name] = row
	}
	out := make([]api.HostCertificate, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, hostCertificate(h, byName[h]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func hostCertificate(host string, s db.EdgeCertStatus) api.HostCertificate {
	c := api.HostCertificate{Host: host, State: "none", IssuedAt: s.IssuedAt, ExpiresAt: s.ExpiresAt}
	switch {
	case s.LastError != "":
		c.State, c.LastError, c.LastErrorAt, c.NextAttemptAt = "failed", s.LastError, s.LastErrorAt, s.NextAttemptAt
	case s.IssuedAt != nil:
		c.State = "issued"
	}
	return c
}
