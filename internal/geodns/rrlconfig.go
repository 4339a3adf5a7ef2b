package geodns

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// RRL configures response rate limiting (docs/operations.md, "Response
// rate limiting"): UDP responses to one client network are limited per
// kind (answer, NXDOMAIN, error), so that the server cannot be used to
// reflect and amplify a flood at an address spoofed as the source. On
// by default with a generous rate, as BIND, Knot and NSD recommend.
type RRL struct {
	// Off turns rate limiting off.
	Off bool `json:"off,omitempty"`
	// LogOnly counts and logs what would be limited but answers it all:
	// for tuning the rates on a live server.
	LogOnly bool `json:"log_only,omitempty"`
	// ResponsesPerSecond is each client network's rate of answers
	// (NOERROR, with or without records; default 200, NSD's). The
	// others default to it.
	ResponsesPerSecond uint32 `json:"responses_per_second,omitempty"`
	NXDomainsPerSecond uint32 `json:"nxdomains_per_second,omitempty"`
	ErrorsPerSecond    uint32 `json:"errors_per_second,omitempty"` // REFUSED, FORMERR, other errors and referrals
	// Window (default 15s, BIND's) is how much debt a network runs up
	// while limited: after its flood stops, it waits up to Window
	// before it is answered again.
	Window Duration `json:"window,omitempty"`
	// Slip: every Slip-th limited response is sent truncated (TC=1, no
	// records) so that a real client retries over TCP; 0 never, 1
	// always (default 2).
	Slip *int `json:"slip,omitempty"`
	// IPv4PrefixLength and IPv6PrefixLength group clients into networks
	// (defaults 24 and 56).
	IPv4PrefixLength int `json:"ipv4_prefix_length,omitempty"`
	IPv6PrefixLength int `json:"ipv6_prefix_length,omitempty"`
	// TableSize bounds the networks tracked at once (default 65536,
	// about 3 MB): under random spoofed sources the table stays this
	// size and evicts networks that are not being limited first.
	TableSize int `json:"table_size,omitempty"`
	// Exempt networks are never limited (e.g. monitoring, your own
	// resolvers).
	Exempt []netip.Prefix `json:"exempt,omitempty"`
}

func (r *RRL) defaults() {
	setDefault(&r.ResponsesPerSecond, 200)
	setDefault(&r.NXDomainsPerSecond, r.ResponsesPerSecond)
	setDefault(&r.ErrorsPerSecond, r.ResponsesPerSecond)
	if r.Window <= 0 {
		r.Window = Duration(15 * time.Second)
	}
	if r.Slip == nil {
		two := 2
		r.Slip = &two
	}
	if r.IPv4PrefixLength == 0 {
		r.IPv4PrefixLength = 24
	}
	if r.IPv6PrefixLength == 0 {
		r.IPv6PrefixLength = 56
	}
	if r.TableSize == 0 {
		r.TableSize = 65536
	}
	for i, p := range r.Exempt {
		r.Exempt[i] = p.Masked()
	}
}

func (r *RRL) check() error {
	var errs []error
	if *r.Slip < 0 || *r.Slip > 10 {
		errs = append(errs, fmt.Errorf("rrl: slip %d: give 0 (never), 1 (always) up to 10", *r.Slip))
	}
	if r.IPv4PrefixLength < 1 || r.IPv4PrefixLength > 32 {
		errs = append(errs, fmt.Errorf("rrl: ipv4_prefix_length %d: give 1 to 32 (default 24)", r.IPv4PrefixLength))
	}
	if r.IPv6PrefixLength < 1 || r.IPv6PrefixLength > 128 {
		errs = append(errs, fmt.Errorf("rrl: ipv6_prefix_length %d: give 1 to 128 (default 56)", r.IPv6PrefixLength))
	}
	if r.TableSize < rrlWays || r.TableSize > 1<<24 {
		errs = append(errs, fmt.Errorf("rrl: table_size %d: give %d to %d entries (default 65536)", r.TableSize, rrlWays, 1<<24))
	}
	if time.Duration(r.Window) > time.Hour {
		errs = append(errs, errors.New("rrl: window: give at most 1h (default 15s)"))
	}
	for _, p := range r.Exempt {
		if !p.IsValid() {
			errs = append(errs, errors.New("rrl: exempt: give CIDR prefixes such as 198.51.100.0/24"))
		}
	}
	return errors.Join(errs...)
}
