package lb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Config is the load balancer's configuration, read from a JSON file
// (ParseConfig). Zero fields take the defaults in brackets.
type Config struct {
	// Region is this load balancer's region: one of Regions' names.
	Region string `json:"region"`
	// Listeners are the public ports [":80" to edge port 80, ":443" to 443].
	Listeners []Listener `json:"listeners"`
	// Regions list the edges of every region. This load balancer's own
	// region is tried first, then the others in the order listed here: the
	// operator lists them nearest first.
	Regions []Region `json:"regions"`
	// Balance is "round-robin" [default] or "least-conn".
	Balance string `json:"balance"`
	// Health configures the active checks of every edge.
	Health Health `json:"health"`
	// ProxyProtocol sends a PROXY v2 header naming the client on every
	// connection to an edge [true]. The edges must list this load
	// balancer's address in --trusted-proxy.
	ProxyProtocol *bool `json:"proxy_protocol"`
	// MaxConns caps open client connections; past it new ones are closed
	// at once [10000].
	MaxConns int `json:"max_conns"`
	// ConnectTimeout bounds a connection attempt to an edge [2s].
	ConnectTimeout Duration `json:"connect_timeout"`
	// IdleTimeout closes a connection on which neither side sent a byte
	// for this long [5m].
	IdleTimeout Duration `json:"idle_timeout"`
	// DrainTimeout is how long open connections may go on after SIGTERM
	// before they are closed [30s].
	DrainTimeout Duration `json:"drain_timeout"`
}

// Listener is one public address and the edges' port it relays to.
type Listener struct {
	Listen   string `json:"listen"`
	EdgePort int    `json:"edge_port"`
}

// Region is a named set of edges: host names or IP addresses, without
// port (each listener gives the port).
type Region struct {
	Name  string   `json:"name"`
	Edges []string `json:"edges"`
}

// Health configures active health checks, like HAProxy's `check inter
// rise fall`: an edge is taken out after Fall failed checks in a row and
// put back after Rise good ones.
type Health struct {
	Interval Duration `json:"interval"` // between checks of one edge [2s]
	Timeout  Duration `json:"timeout"`  // of one check [1s]
	Rise     int      `json:"rise"`     // [2]
	Fall     int      `json:"fall"`     // [3]
	// HTTPPath, when set, makes a check an HTTP GET of this path (after a
	// PROXY LOCAL header when ProxyProtocol is on); any answer below 500
	// is good. Empty [default]: a check is a TCP connect.
	HTTPPath string `json:"http_path"`
}

// Balancing policies.
const (
	RoundRobin = "round-robin"
	LeastConn  = "least-conn"
)

// Duration is a time.Duration written as in Go ("2s", "500ms").
type Duration time.Duration

// UnmarshalJSON reads "2s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("durations are strings like \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes d as "2s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// ParseConfig reads a JSON configuration, refusing unknown fields, and
// fills in defaults. Its errors say which field is wrong.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("parse lb config: %w", err)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Listen: ":80", EdgePort: 80}, {Listen: ":443", EdgePort: 443}}
	}
	if c.Balance == "" {
		c.Balance = RoundRobin
	}
	if c.ProxyProtocol == nil {
		on := true
		c.ProxyProtocol = &on
	}
	defaultInt(&c.MaxConns, 10000)
	defaultDur(&c.ConnectTimeout, 2*time.Second)
	defaultDur(&c.IdleTimeout, 5*time.Minute)
	defaultDur(&c.DrainTimeout, 30*time.Second)
	defaultDur(&c.Health.Interval, 2*time.Second)
	defaultDur(&c.Health.Timeout, time.Second)
	defaultInt(&c.Health.Rise, 2)
	defaultInt(&c.Health.Fall, 3)
}

func defaultInt(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

func defaultDur(v *Duration, d time.Duration) {
	if *v == 0 {
		*v = Duration(d)
	}
}

// Validate reports what is wrong with c, with the defaults applied.
func (c *Config) Validate() error {
	var errs []error
	if c.Balance != RoundRobin && c.Balance != LeastConn {
		errs = append(errs, fmt.Errorf("balance %q: use %q or %q", c.Balance, RoundRobin, LeastConn))
	}
	ports := map[int]bool{}
	for _, l := range c.Listeners {
		if ports[l.EdgePort] {
			errs = append(errs, fmt.Errorf("listener %q: another listener already relays to edge port %d", l.Listen, l.EdgePort))
		}
		ports[l.EdgePort] = true
		if _, _, err := net.SplitHostPort(l.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listener %q: give host:port, e.g. \":80\"", l.Listen))
		}
		if l.EdgePort < 1 || l.EdgePort > 65535 {
			errs = append(errs, fmt.Errorf("listener %q: edge_port %d is not a port", l.Listen, l.EdgePort))
		}
	}
	errs = append(errs, c.validateRegions()...)
	if c.MaxConns < 1 || c.Health.Rise < 1 || c.Health.Fall < 1 {
		errs = append(errs, errors.New("max_conns, health.rise and health.fall must be at least 1"))
	}
	for name, d := range map[string]Duration{"connect_timeout": c.ConnectTimeout, "idle_timeout": c.IdleTimeout,
		"drain_timeout": c.DrainTimeout, "health.interval": c.Health.Interval, "health.timeout": c.Health.Timeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid lb config: %w", err)
	}
	return nil
}

func (c *Config) validateRegions() []error {
	var errs []error
	seen, edges := map[string]bool{}, map[string]bool{}
	for _, r := range c.Regions {
		if r.Name == "" || seen[r.Name] {
			errs = append(errs, fmt.Errorf("region %q: names must be set and unique", r.Name))
		}
		seen[r.Name] = true
		for _, e := range r.Edges {
			if e == "" || net.JoinHostPort(e, "1") != hostPort(e, 1) {
				errs = append(errs, fmt.Errorf("region %q: edge %q: give a host or IP address without port", r.Name, e))
			}
			if edges[e] {
				errs = append(errs, fmt.Errorf("region %q: edge %q is listed twice", r.Name, e))
			}
			edges[e] = true
		}
	}
	if !seen[c.Region] {
		errs = append(errs, fmt.Errorf("region %q is not among regions; list its edges there", c.Region))
	}
	return errs
}

// hostPort is host:port, with brackets for IPv6, refusing a host that
// already has a port (its JoinHostPort then differs).
func hostPort(host string, port int) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
