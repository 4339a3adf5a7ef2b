package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func domainsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "domains", Short: "Serve a project on your own domains (verified by DNS before they are routed)"}
	cmd.AddCommand(domainsAddCmd(), domainsListCmd(), domainsVerifyCmd(), domainsRemoveCmd())
	return cmd
}

func domainsBase(project string) string {
	return "/v1/projects/" + url.PathEscape(project) + "/domains"
}

func domainsAddCmd() *cobra.Command {
	var req api.AddDomainRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add [PROJECT] DOMAIN",
		Short: "Add a domain to a project and print the DNS records that verify it",
		Long: `Add a domain to a project. The command prints the records to publish: a
CNAME (or, for an apex domain, A/AAAA records) that points the domain at
the edges, and a TXT record that proves you own it. The operator checks
both now and then, and routes the domain once both are there; run
"zeitwork domains verify DOMAIN" to check at once. Without PROJECT, the
project linked to this directory ("zeitwork link").`,
		Example: "  zeitwork domains add web www.example.com\n  zeitwork domains add web example.com --redirect-to www.example.com --status 301",
		Args:    rangeArgs(1, 2, "zeitwork domains add my-app www.example.com"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			project, err := projectArg(cmd, c, args[:len(args)-1], "give it: `zeitwork domains add my-app "+args[len(args)-1]+"`")
			if err != nil {
				return err
			}
			req.Name = args[len(args)-1]
			var d api.Domain
			if err := c.do(cmd.Context(), "POST", domainsBase(project), req, &d); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), d)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Added %s to %s. Publish these DNS records:\n\n", d.Name, d.Project)
			records(w, d)
			fmt.Fprintf(w, "\nThe domain is routed once both are seen; check now with: zeitwork domains verify %s\n", d.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.RedirectTo, "redirect-to", "", "answer every request with a redirect to this host (e.g. www to the apex) instead of the app")
	cmd.Flags().IntVar(&req.RedirectStatus, "status", 0, "the redirect's status: 301, 302, 307 or 308 (default 308)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func records(w io.Writer, d api.Domain) {
	rows := [][]string{}
	for _, r := range d.Records {
		rows = append(rows, []string{r.Name, r.Type, r.Value})
	}
	table(w, []string{"NAME", "TYPE", "VALUE"}, rows)
}

func domainsListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [PROJECT]",
		Short: "List domains with their status, HTTPS certificate and why (all projects' without PROJECT)",
		Long: `List domains: whether each is verified and routed, and its HTTPS
certificate. CERT is "pending" until the first HTTPS request after the
domain is routed (certificates are issued on demand), "issued" (EXPIRES
says until when; the edges renew ahead of expiry), or "failed": REASON
then says why and when the edges try again (after 1 min, growing to 6 h).`,
		Args: maxArgs(1, "give one PROJECT, or none for all projects' domains"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			path := "/v1/domains"
			if len(args) == 1 {
				path = domainsBase(args[0])
			}
			var ds []api.Domain
			if err := c.do(cmd.Context(), "GET", path, nil, &ds); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ds)
			}
			rows := [][]string{}
			for _, d := range ds {
				serves := "app"
				if d.RedirectTo != "" {
					serves = fmt.Sprintf("%d to %s", d.RedirectStatus, d.RedirectTo)
				}
				routed := "no"
				if d.Routed {
					routed = "yes"
				}
				rows = append(rows, []string{d.Name, d.Project, d.Status, routed, serves,
					certStatus(d.Certificate), certExpiry(d.Certificate), domainReason(d)})
			}
			listTable(cmd.OutOrStdout(), []string{"DOMAIN", "PROJECT", "STATUS", "ROUTED", "SERVES", "CERT", "EXPIRES", "REASON"}, rows,
				"No domains yet: add one with `zeitwork domains add PROJECT DOMAIN`")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func domainsVerifyCmd() *cobra.Command {
	var project string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify DOMAIN",
		Short: "Check a domain's DNS records now; it is routed once they are right",
		Args:  exactArgs(1, "zeitwork domains verify www.example.com"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			p, name, err := domainProject(cmd.Context(), c, project, args[0])
			if err != nil {
				return err
			}
			var d api.Domain
			if err := c.do(cmd.Context(), "POST", domainsBase(p)+"/"+url.PathEscape(name)+"/verify", nil, &d); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), d)
			}
			w := cmd.OutOrStdout()
			switch d.Status {
			case api.DomainVerified:
				fmt.Fprintf(w, "%s is verified and routed to %s\n", d.Name, d.Project)
				return nil
			case api.DomainFailing:
				fmt.Fprintf(w, "%s is still routed, but: %s\n\nIts records should be:\n", d.Name, d.Reason)
				records(w, d)
				return nil
			}
			fmt.Fprintf(w, "%s is %s and not routed. Its records should be:\n", d.Name, d.Status)
			records(w, d)
			return &UserError{Msg: d.Name + " is not verified: " + d.Reason,
				Hint: "publish the records above, wait for DNS to update (up to the records' TTL), and run this again"}
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "the domain's project (default: found by the domain's name)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func domainsRemoveCmd() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:   "remove DOMAIN",
		Short: "Remove a domain: the edges stop routing it at once",
		Args:  exactArgs(1, "zeitwork domains remove www.example.com"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			p, name, err := domainProject(cmd.Context(), c, project, args[0])
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", domainsBase(p)+"/"+url.PathEscape(name), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %s from %s; it is no longer routed. Remove its DNS records too.\n", name, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "the domain's project (default: found by the domain's name)")
	return cmd
}

// domainProject finds the project of a domain of the caller's
// organisation, unless the user named it.
func domainProject(ctx context.Context, c *client, project, domain string) (string, string, error) {
	name, err := api.ParseDomain(domain)
	if err != nil {
		return "", "", &UserError{Msg: err.Error(), Hint: "give a domain name such as www.example.com"}
	}
	if project != "" {
		return project, name, nil
	}
	var ds []api.Domain
	if err := c.do(ctx, "GET", "/v1/domains", nil, &ds); err != nil {
		return "", "", err
	}
	for _, d := range ds {
		if strings.EqualFold(d.Name, name) {
			return d.Project, name, nil
		}
	}
	return "", "", &UserError{Msg: name + " is not a domain of your organisation's projects",
		Hint: "list them with `zeitwork domains list`, or add it with `zeitwork domains add PROJECT " + name + "`"}
}
