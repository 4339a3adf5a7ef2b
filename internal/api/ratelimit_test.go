package api

import (
	"math"
	"testing"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     float64
		bad      bool
	}{
		{"per second", "100/s", 100, false},
		{"bare number", "2.5", 2.5, false},
		{"per minute", "600/m", 10, false},
		{"per hour", "3600/h", 1, false},
		{"off", "off", 0, false},
		{"zero", "0/s", 0, false},
		{"negative", "-1/s", 0, true},
		{"unknown unit", "5/d", 0, true},
		{"not a number", "fast", 0, true},
		{"infinite", "inf/s", 0, true},
		{"too high", "2000000/s", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
			}
		})
	}
}

func TestRateLimitCheckFillsBurst(t *testing.T) {
	l := RateLimit{Rate: 0.2}
	if err := l.Check("x"); err != nil || l.Burst != 1 {
		t.Fatalf("%+v %v, want burst 1", l, err)
	}
	l = RateLimit{Rate: 0, Burst: 50}
	if err := l.Check("x"); err != nil || l.Burst != 0 {
		t.Fatalf("%+v %v: an off limit keeps no burst", l, err)
	}
}

// FuzzParseRate: whatever a user types, a rate is accepted only as a
// finite number within the bounds a limit may have.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/s", "1e309/s", "NaN", "-0/m", "0x10/h", " 5 /S", "1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		l := RateLimit{Rate: r}
		if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 || l.Check("x") != nil {
			t.Fatalf("ParseRate(%q) accepted %v", s, r)
		}
	})
}
