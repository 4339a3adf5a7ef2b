package cli

import (
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func certsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "certs PROJECT",
		Short: "Show the HTTPS certificates of a project's hosts: issued, failed (and why), or not yet asked for",
		Long: `Show the HTTPS state of every host the edges route for the project.
Certificates are issued on demand, on the first HTTPS request for a host, so a
host nobody has visited over HTTPS shows "none". A failed issuance shows its
last reason; the edges try again after a backoff (1 min, growing to 6 h).`,
		Example: "  zeitwork certs web\n  zeitwork certs web --json",
		Args:    exactArgs(1, "give a project name, e.g. `zeitwork certs my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var certs []api.HostCertificate
			if err := c.do(cmd.Context(), "GET", "/v1/projects/"+url.PathEscape(args[0])+"/certificates", nil, &certs); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), certs)
			}
			certsTable(cmd.OutOrStdout(), certs)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func certsTable(w io.Writer, certs []api.HostCertificate) {
	if len(certs) == 0 {
		fmt.Fprintln(w, "No hosts are routed for this project yet: deploy it first")
		return
	}
	rows := make([][]string, 0, len(certs))
	for _, c := range certs {
		expires := certExpiry(api.CertificateState{ExpiresAt: c.ExpiresAt})
		lastErr := c.LastError
		if c.NextAttemptAt != nil {
			lastErr += "; next try " + ahead(*c.NextAttemptAt)
		}
		rows = append(rows, []string{c.Host, c.State, certAgo(c.IssuedAt), expires, certAgo(c.LastErrorAt), lastErr})
	}
	table(w, []string{"HOST", "STATE", "ISSUED", "EXPIRES", "FAILED", "LAST ERROR"}, rows)
}

func certAgo(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return since(*t)
}
