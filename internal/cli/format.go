package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// shortDuration is d as a person writes it: 5m, 168h, 1h30m, not Go's
// 5m0s and 168h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// rateLabel is a rate in requests per second in the unit it was most
// likely given in (--rate-limit 10/h), not 0.002777777777777778/s.
func rateLabel(perSecond float64) string {
	for _, u := range []struct {
		unit string
		secs float64
	}{{"/s", 1}, {"/m", 60}, {"/h", 3600}} {
		n := perSecond * u.secs
		if math.Abs(n-math.Round(n)) < 1e-6*math.Max(1, n) && math.Round(n) >= 1 {
			return strconv.FormatFloat(math.Round(n), 'f', -1, 64) + u.unit
		}
	}
	return strconv.FormatFloat(perSecond, 'g', 4, 64) + "/s"
}

// printable escapes the control characters of a table cell: a tab or a
// newline would break the columns, and an escape sequence in a name or a
// reason that came from someone else (a build's output, another member's
// token name in the audit log) would drive the reader's terminal.
func printable(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !unicode.IsControl(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}
