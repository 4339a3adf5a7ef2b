package geodns

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config is the DNS server's configuration file (JSON; docs/operations.md,
// "GeoDNS").
type Config struct {
	// Zone is the apps zone, e.g. "apps.example.com": its apex and every
	// name one label under it (each project's and deployment's host).
	Zone string `json:"zone"`
	// Targets are further names answered like the apps zone, each the
	// apex of a zone of its own with no names under it: the CNAME target
	// custom domains point at (the operator's --domain-cname-target).
	Targets []string `json:"targets,omitempty"`
	// Nameservers are the zones' NS records; an address is needed for
	// a name inside a zone we serve (it is answered and sent as glue).
	Nameservers []Nameserver `json:"nameservers"`
	// Hostmaster is the SOA's mailbox, as a name (hostmaster.example.com).
	Hostmaster string `json:"hostmaster,omitempty"`
	// TTLs in seconds. TTL is the A/AAAA answers' (default 30): with the
	// health interval, it bounds how long clients keep a dead region.
	TTL          uint32 `json:"ttl,omitempty"`
	NSTTL        uint32 `json:"ns_ttl,omitempty"`        // NS and SOA records (default 3600)
	NegativeTTL  uint32 `json:"negative_ttl,omitempty"`  // SOA minimum: NXDOMAIN and NODATA (default 60)
	ChallengeTTL uint32 `json:"challenge_ttl,omitempty"` // ACME TXT (default 10)

	Regions []Region `json:"regions"`
	// GeoIPDatabase is a MaxMind-format (.mmdb) file such as GeoLite2
	// City or Country. Networks maps CIDR prefixes to region names and is
	// checked first. Neither: every client gets the first region.
	GeoIPDatabase string            `json:"geoip_database,omitempty"`
	Networks      map[string]string `json:"networks,omitempty"`

	Health Health `json:"health"`

	// OperatorURL is where ACME challenges are read (GET
	// /v1/dns/acme-challenges), every ChallengeRefresh (default 2 s).
	// Empty: no challenges are answered.
	OperatorURL      string   `json:"operator_url,omitempty"`
	ChallengeRefresh Duration `json:"challenge_refresh,omitempty"`

	// RRL is response rate limiting (rrlconfig.go); on unless Off.
	RRL RRL `json:"rrl"`
}

// Nameserver is one NS record, with its addresses for glue.
type Nameserver struct {
	Name  string       `json:"name"`
	Addrs []netip.Addr `json:"addrs,omitempty"`
}

// Region is one region's load balancers and where it is.
type Region struct {
	Name string `json:"name"`
	// Latitude and Longitude place the region: clients go to the
	// nearest one, and a region without a healthy load balancer spills
	// to the next nearest.
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	// Countries and Continents (ISO codes, e.g. "DE", "EU") send
	// clients the database has no coordinates for.
	Countries  []string `json:"countries,omitempty"`
	Continents []string `json:"continents,omitempty"`
	// Prefer, if set, is the order of regions to spill to, instead of
	// by distance.
	Prefer        []string     `json:"prefer,omitempty"`
	LoadBalancers []netip.Addr `json:"load_balancers"`
}

// Health configures the active checks of the load balancers: a TCP
// connect to Port every Interval, failed after Timeout.
type Health struct {
	Port     uint16   `json:"port,omitempty"`     // default 80
	Interval Duration `json:"interval,omitempty"` // default 5 s
	Timeout  Duration `json:"timeout,omitempty"`  // default 2 s
}

// Duration is a time.Duration written as "5s" in JSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("give a duration such as \"5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("give a duration such as \"5s\": %w", err)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// LoadConfig reads and checks a configuration file.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read dns config: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("parse dns config %s: %w", path, err)
	}
	if err := c.Check(); err != nil {
		return c, fmt.Errorf("dns config %s: %w", path, err)
	}
	return c, nil
}

// Check fills in defaults and says what is wrong.
func (c *Config) Check() error {
	c.defaults()
	var errs []error
	if _, ok := dns.IsDomainName(c.Zone); !ok || c.Zone == "." {
		errs = append(errs, fmt.Errorf("zone %q: give the apps domain, e.g. apps.example.com", c.Zone))
	}
	for _, t := range c.Targets {
		if _, ok := dns.IsDomainName(t); !ok {
			errs = append(errs, fmt.Errorf("target %q is not a domain name", t))
		}
	}
	if len(c.Nameservers) == 0 {
		errs = append(errs, errors.New("nameservers: give at least one, the names the zone is delegated to"))
	}
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("regions: give at least one, with its load_balancers"))
	}
	names := map[string]bool{}
	for _, r := range c.Regions {
		if r.Name == "" || names[r.Name] {
			errs = append(errs, fmt.Errorf("region %q: every region needs a name of its own", r.Name))
		}
		names[r.Name] = true
		if len(r.LoadBalancers) == 0 {
			errs = append(errs, fmt.Errorf("region %s: give its load_balancers' addresses", r.Name))
		}
	}
	for _, r := range c.Regions {
		for _, p := range r.Prefer {
			if !names[p] {
				errs = append(errs, fmt.Errorf("region %s prefers %q, which is no region", r.Name, p))
			}
		}
	}
	for cidr, region := range c.Networks {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			errs = append(errs, fmt.Errorf("networks: %q: give a CIDR prefix such as 198.51.100.0/24", cidr))
		}
		if !names[region] {
			errs = append(errs, fmt.Errorf("networks: %s maps to %q, which is no region", cidr, region))
		}
	}
	if err := c.RRL.check(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	c.Zone = dns.CanonicalName(c.Zone)
	for i, t := range c.Targets {
		c.Targets[i] = dns.CanonicalName(t)
	}
	for i := range c.Nameservers {
		c.Nameservers[i].Name = dns.CanonicalName(c.Nameservers[i].Name)
	}
	if c.Hostmaster == "" {
		c.Hostmaster = "hostmaster." + c.Zone
	}
	c.Hostmaster = dns.CanonicalName(c.Hostmaster)
	setDefault(&c.TTL, 30)
	setDefault(&c.NSTTL, 3600)
	setDefault(&c.NegativeTTL, 60)
	setDefault(&c.ChallengeTTL, 10)
	if c.Health.Port == 0 {
		c.Health.Port = 80
	}
	if c.Health.Interval <= 0 {
		c.Health.Interval = Duration(5 * time.Second)
	}
	if c.Health.Timeout <= 0 {
		c.Health.Timeout = Duration(2 * time.Second)
	}
	if c.ChallengeRefresh <= 0 {
		c.ChallengeRefresh = Duration(2 * time.Second)
	}
	c.RRL.defaults()
}

func setDefault(v *uint32, d uint32) {
	if *v == 0 {
		*v = d
	}
}
