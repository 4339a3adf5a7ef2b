package operator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/publicsuffix"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Custom domains (docs/api.md, "Custom domains"; docs/security.md,
// "Custom domains"). A domain is added to one project, held by it alone
// (a unique name across the installation), and routed only once its
// owner published both the ownership token (TXT) and a record pointing at
// us (CNAME, or A/AAAA for an apex). The domain loop checks again
// periodically: a domain whose records stop pointing at us is marked
// failing and, after the grace period, unrouted, so a CNAME left behind
// when a project moves away cannot serve whoever adds the name next.

func (o *Operator) addDomain(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	var req api.AddDomainRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	name, err := o.domainName(req.Name)
	if err != nil {
		return err
	}
	auditFrom(r.Context()).setTargetObject(p.ID, "domain", name)
	if req.RedirectTo != "" {
		to, err := api.ParseDomain(req.RedirectTo)
		if err != nil {
			return invalid("give a host name, e.g. example.com", "invalid redirect_to: %v", err)
		}
		if to == name {
			return invalid("redirect to another host", "%s cannot redirect to itself", name)
		}
		req.RedirectTo = to
		if req.RedirectStatus == 0 {
			req.RedirectStatus = http.StatusPermanentRedirect
		}
		if !api.ValidRedirectStatus(req.RedirectStatus) {
			return invalid("use 301, 302, 307 or 308", "invalid redirect_status %d", req.RedirectStatus)
		}
	} else if req.RedirectStatus != 0 {
		return invalid("give redirect_to with redirect_status", "redirect_status without redirect_to")
	}
	if isApex(name) && len(o.cfg.Domains.EdgeAddrs) == 0 {
		return invalid("add a subdomain such as www."+name+" (a CNAME), or ask the operator to configure the edges' addresses (--domain-edge-addr)",
			"%s is an apex domain, which needs A/AAAA records, and this installation has no edge addresses configured", name)
	}
	d, err := o.store.CreateDomain(r.Context(), db.CreateDomainParams{
		ID: uuid.New(), ProjectID: p.ID, Name: name, Token: "zw-" + randomHex(16),
		RedirectTo: req.RedirectTo, RedirectStatus: int32(req.RedirectStatus),
	})
	if err != nil {
		if err = store.Classify(err); isConflict(err) {
			return o.domainTaken(r.Context(), p, name)
		}
		return err
	}
	o.hub.Bump()
	writeJSON(w, http.StatusCreated, o.domainJSON(p, d))
	return nil
}

// domainTaken refuses a name another project holds, without saying which
// project or organisation holds it: that would tell anyone who owns what.
func (o *Operator) domainTaken(ctx context.Context, p db.Project, name string) error {
	if _, err := o.store.GetProjectDomain(ctx, db.GetProjectDomainParams{ProjectID: p.ID, Name: name}); err == nil {
		return conflict("see its records with `zeitwork domains list "+p.Name+"`", "%s is already a domain of project %s", name, p.Name)
	}
	return conflict("a domain belongs to one project only: remove it from the other project first; if you own it and did not add it there, ask the installation's administrators",
		"%s is held by another project", name)
}

// domainName parses a domain a user gives, refusing names the installation
// uses itself: the apps domain and its hosts keep their own rules
// (api/hosts.go), and the edge's own host name is no tenant's.
func (o *Operator) domainName(s string) (string, error) {
	name, err := api.ParseDomain(s)
	if err != nil {
		return "", invalid("give a domain name such as www.example.com", "invalid domain: %v", err)
	}
	apps := strings.ToLower(o.cfg.AppsDomain)
	if name == apps || strings.HasSuffix(name, "."+apps) {
		return "", invalid("hosts under the apps domain are the projects' own; add a domain of yours", "%s is under the apps domain %s", name, apps)
	}
	if e := o.cfg.Domains.EdgeHostname; e != "" && (name == e || strings.HasSuffix(name, "."+e)) {
		return "", invalid("add a domain of yours", "%s is the edges' own host name", name)
	}
	return name, nil
}

// isApex reports whether name is a registrable domain (example.com,
// example.co.uk), which DNS does not let have a CNAME.
func isApex(name string) bool {
	etld1, err := publicsuffix.EffectiveTLDPlusOne(name)
	return err != nil || etld1 == name
}

func (o *Operator) listDomains(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	ds, err := o.store.ListProjectDomains(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := []api.Domain{}
	for _, d := range ds {
		out = append(out, o.domainJSON(p, d))
	}
	return o.writeDomains(w, r, out)
}

// writeDomains answers with ds, each with its certificate's state.
func (o *Operator) writeDomains(w http.ResponseWriter, r *http.Request, ds []api.Domain) error {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
	}
	certs, err := o.certStates(r.Context(), names)
	if err != nil {
		return err
	}
	for i := range ds {
		ds[i].Certificate = certs[ds[i].Name]
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

// listOrgDomains lists the domains of every project of the caller's
// organisation, so that the CLI can find a domain's project by its name.
func (o *Operator) listOrgDomains(w http.ResponseWriter, r *http.Request) error {
	rows, err := o.store.ListOrganisationDomains(r.Context(), principalFrom(r.Context()).orgID)
	if err != nil {
		return err
	}
	out := []api.Domain{}
	for _, row := range rows {
		d := db.Domain{ID: row.ID, ProjectID: row.ProjectID, Name: row.Name, Token: row.Token, RedirectTo: row.RedirectTo,
			RedirectStatus: row.RedirectStatus, Status: row.Status, Reason: row.Reason, VerifiedAt: row.VerifiedAt,
			FailingSince: row.FailingSince, CheckedAt: row.CheckedAt, NextCheckAt: row.NextCheckAt, Failures: row.Failures, CreatedAt: row.CreatedAt}
		out = append(out, o.domainJSON(db.Project{ID: row.ProjectID, Name: row.Project}, d))
	}
	return o.writeDomains(w, r, out)
}

// projectDomain loads the {domain} of the path within the {project}.
func (o *Operator) projectDomain(r *http.Request) (db.Project, db.Domain, error) {
	p, err := o.project(r)
	if err != nil {
		return p, db.Domain{}, err
	}
	name, err := api.ParseDomain(r.PathValue("domain"))
	if err != nil {
		return p, db.Domain{}, invalid("give a domain name such as www.example.com", "invalid domain: %v", err)
	}
	auditFrom(r.Context()).setTargetObject(p.ID, "domain", name)
	d, err := o.store.GetProjectDomain(r.Context(), db.GetProjectDomainParams{ProjectID: p.ID, Name: name})
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return p, d, notFound("list the project's domains with `zeitwork domains list "+p.Name+"`", "%s is not a domain of project %s", name, p.Name)
		}
		return p, d, err
	}
	return p, d, nil
}

// verifyDomain checks a domain's records now, whatever its schedule.
func (o *Operator) verifyDomain(w http.ResponseWriter, r *http.Request) error {
	p, d, err := o.projectDomain(r)
	if err != nil {
		return err
	}
	before := d.Status
	d, err = o.checkAndRecord(r.Context(), p, d)
	if err != nil {
		return err
	}
	if d.Status != before {
		o.hub.Bump()
	}
	out := o.domainJSON(p, d)
	certs, err := o.certStates(r.Context(), []string{d.Name})
	if err != nil {
		return err
	}
	out.Certificate = certs[d.Name]
	writeJSON(w, http.StatusOK, out)
	return nil
}

// removeDomain deletes a domain; the edges drop its route with the next
// table, which the delete's notification sends them at once.
func (o *Operator) removeDomain(w http.ResponseWriter, r *http.Request) error {
	p, d, err := o.projectDomain(r)
	if err != nil {
		return err
	}
	if _, err := o.store.DeleteProjectDomain(r.Context(), db.DeleteProjectDomainParams{ProjectID: p.ID, Name: d.Name}); err != nil {
		return err
	}
	o.hub.Bump()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// domainTargets are the CNAME targets accepted for p's domains, the one
// to tell users first.
func (o *Operator) domainTargets(p db.Project) []string {
	own := p.Name + "." + strings.ToLower(o.cfg.AppsDomain)
	if e := o.cfg.Domains.EdgeHostname; e != "" {
		return []string{e, own}
	}
	return []string{own}
}

// domainRecords are the records d's owner must publish.
func (o *Operator) domainRecords(p db.Project, d db.Domain) []api.DNSRecord {
	var out []api.DNSRecord
	if isApex(d.Name) && len(o.cfg.Domains.EdgeAddrs) > 0 {
		for _, a := range o.cfg.Domains.EdgeAddrs {
			typ := "A"
			if a.Is6() {
				typ = "AAAA"
			}
			out = append(out, api.DNSRecord{Name: d.Name, Type: typ, Value: a.String()})
		}
	} else {
		out = append(out, api.DNSRecord{Name: d.Name, Type: "CNAME", Value: o.domainTargets(p)[0]})
	}
	return append(out, api.DNSRecord{Name: api.ChallengePrefix + d.Name, Type: "TXT", Value: d.Token})
}

func (o *Operator) domainJSON(p db.Project, d db.Domain) api.Domain {
	return api.Domain{
		Name: d.Name, Project: p.Name, Status: d.Status, Reason: d.Reason,
		Routed:     d.Status == api.DomainVerified || d.Status == api.DomainFailing,
		RedirectTo: d.RedirectTo, RedirectStatus: int(d.RedirectStatus), Records: o.domainRecords(p, d),
		VerifiedAt: d.VerifiedAt, CheckedAt: d.CheckedAt, FailingSince: d.FailingSince,
		NextCheckAt: d.NextCheckAt, CreatedAt: d.CreatedAt,
		Certificate: api.CertificateState{Status: api.CertPending},
	}
}

// checkAndRecord checks d's records and records the outcome: its state,
// the reason and when to check next.
func (o *Operator) checkAndRecord(ctx context.Context, p db.Project, d db.Domain) (db.Domain, error) {
	c, err := o.checkDomain(ctx, d.Name, d.Token, o.domainTargets(p))
	next := o.nextState(d, c, err, time.Now())
	d, err = o.store.RecordDomainCheck(ctx, next)
	if err != nil {
		return d, fmt.Errorf("record check of domain %s: %w", d.Name, err)
	}
	return d, nil
}

// nextState is d's state after a check that found c, or failed with
// lookupErr (then the records are unknown and d keeps its state).
func (o *Operator) nextState(d db.Domain, c domainCheck, lookupErr error, now time.Time) db.RecordDomainCheckParams {
	cfg := &o.cfg.Domains
	p := db.RecordDomainCheckParams{ID: d.ID, Status: d.Status, FailingSince: d.FailingSince, Failures: d.Failures + 1}
	wait := cfg.backoff(p.Failures)
	switch {
	case lookupErr != nil:
		p.Reason = "could not check: " + lookupErr.Error() + "; retrying"
	case c.ok:
		p.Status, p.Reason, p.FailingSince, p.Failures = api.DomainVerified, "", nil, 0
		wait = cfg.Recheck
	case d.Status == api.DomainVerified || d.Status == api.DomainFailing:
		since := now
		if d.FailingSince != nil {
			since = *d.FailingSince
		}
		end := since.Add(cfg.Grace)
		if !now.Before(end) {
			p.Status, p.FailingSince = api.DomainUnrouted, nil
			p.Reason = fmt.Sprintf("unrouted: its records stopped pointing at us at %s (%s); fix them and run `zeitwork domains verify %s`",
				since.UTC().Format(time.RFC3339), c.reason, d.Name)
			break
		}
		p.Status, p.FailingSince = api.DomainFailing, &since
		p.Reason = fmt.Sprintf("%s; unrouted at %s unless fixed", c.reason, end.UTC().Format(time.RFC3339))
		wait = min(wait, end.Sub(now))
	case d.Status == api.DomainPending:
		p.Reason = fmt.Sprintf("%s; the domain is released at %s unless verified", c.reason,
			d.CreatedAt.Add(cfg.PendingTTL).UTC().Format(time.RFC3339))
	default:
		p.Reason = c.reason
	}
	p.NextCheckSeconds = wait.Seconds()
	return p
}

// domainLoop checks the domains that are due, every cfg.Domains.Every,
// until ctx ends, on one replica at a time (domainCheckLock): two checks
// of one domain racing could record opposite answers, or log a state
// change twice.
func (o *Operator) domainLoop(ctx context.Context) {
	tick := time.NewTicker(o.cfg.Domains.Every)
	defer tick.Stop()
	for {
		if _, err := o.exclusively(ctx, domainCheckLock, o.checkDueDomains); err != nil && ctx.Err() == nil {
			o.log.Warn("check domains", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (o *Operator) checkDueDomains(ctx context.Context) error {
	expired, err := o.store.ExpirePendingDomains(ctx, o.cfg.Domains.PendingTTL.Seconds())
	if err != nil && ctx.Err() == nil {
		o.log.Warn("release unverified domains", "err", err)
	}
	for _, d := range expired {
		o.log.Info("domain released: not verified in time", "domain", d.Name, "ttl", o.cfg.Domains.PendingTTL)
	}
	due, err := o.store.DueDomains(ctx, 100)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("list domains due a check", "err", err)
		}
		return nil
	}
	for _, d := range due {
		p, err := o.store.GetProject(ctx, d.ProjectID)
		if err == nil {
			var after db.Domain
			after, err = o.checkAndRecord(ctx, p, d)
			if err == nil && after.Status != d.Status {
				o.log.Info("domain state changed", "domain", d.Name, "project", p.Name, "from", d.Status, "to", after.Status, "reason", after.Reason)
				o.hub.Bump()
			}
		}
		if err != nil && ctx.Err() == nil && !isNotFound(store.Classify(err)) {
			o.log.Warn("check domain", "domain", d.Name, "err", err)
		}
	}
	return nil
}
