package api

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// RateLimit is a token bucket: Rate requests a second on average, up to
// Burst at once. A zero Rate means no limit.
type RateLimit struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// RateLimits are a project's request limits at the edge (issue 7): one
// bucket for the whole project, and one per client address and project.
// Each edge enforces them on its own (docs/operations.md, Rate limits).
type RateLimits struct {
	Project RateLimit `json:"project"`
	Client  RateLimit `json:"client"`
}

// On reports whether any limit is set.
func (l RateLimits) On() bool { return l.Project.Rate > 0 || l.Client.Rate > 0 }

// MaxRate bounds a limit's rate: past a million requests a second a limit
// protects nothing, and the bound keeps the arithmetic finite.
const MaxRate = 1e6

// ParseRate reads a rate as "100/s", "600/m", "1000/h" or a bare number of
// requests a second; "off" and "0" mean no limit.
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "off" || s == "none" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	per := 1.0
	switch unit {
	case "", "s", "sec", "second":
	case "m", "min", "minute":
		per = 60
	case "h", "hour":
		per = 3600
	default:
		return 0, fmt.Errorf("invalid rate %q: give requests per second, minute or hour, e.g. 100/s, 600/m", s)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 || n > MaxRate*per {
		return 0, fmt.Errorf("invalid rate %q: give requests per second, minute or hour, e.g. 100/s, 600/m", s)
	}
	return n / per, nil
}

// Check validates l and fills in a missing burst: a second's worth of
// requests, at least one.
func (l *RateLimit) Check(what string) error {
	if math.IsNaN(l.Rate) || l.Rate < 0 || l.Rate > MaxRate {
		return fmt.Errorf("%s rate %g is out of range: give 0 (off) up to %g requests a second", what, l.Rate, float64(MaxRate))
	}
	if l.Burst < 0 || l.Burst > 1e7 {
		return fmt.Errorf("%s burst %d is out of range: give 1 to 10000000 requests", what, l.Burst)
	}
	if l.Rate == 0 {
		l.Burst = 0
	} else if l.Burst == 0 {
		l.Burst = max(1, int(math.Ceil(l.Rate)))
	}
	return nil
}
