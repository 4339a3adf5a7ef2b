package cli

import (
	"strings"
	"testing"
	"time"
)

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", 168 * time.Hour: "168h", 90 * time.Minute: "1h30m", 10 * time.Second: "10s",
		2 * time.Second: "2s", 90 * time.Second: "1m30s", 0: "0s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestRateLabel(t *testing.T) {
	for r, want := range map[float64]string{
		100: "100/s", 10.0 / 3600: "10/h", 600.0 / 60: "10/s", 1.0 / 60: "1/m", 90.0 / 60: "90/m", 0.5: "30/m", 1.0 / 7200: "0.0001389/s",
	} {
		if got := rateLabel(r); got != want {
			t.Errorf("rateLabel(%v) = %q, want %q", r, got, want)
		}
	}
}

// TestSettingsReadBack: what `projects update` prints reads as it was
// given (10/h, 10m), not as Go formats floats and durations.
func TestSettingsReadBack(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "shop")
	if out := mustRun(t, "projects", "update", "shop", "--rate-limit", "10/h"); !strings.Contains(out, "10/h") || strings.Contains(out, "0.00") {
		t.Errorf("rate limit:\n%s", out)
	}
	if out := mustRun(t, "projects", "update", "shop", "--idle-timeout", "10m"); !strings.Contains(out, "after 10m without") {
		t.Errorf("idle timeout:\n%s", out)
	}
	if _, err := run(t, "projects", "update", "shop", "--idle-timeout", "1s"); err == nil || strings.Contains(err.Error(), "0m0s") {
		t.Errorf("idle timeout out of range: %v", err)
	}
	if _, err := run(t, "tokens", "create", "ci", "--expires", "1y"); err == nil || !strings.Contains(err.Error(), "at most 87600h") || strings.Contains(err.Error(), "0m0s") {
		t.Errorf("token expiry: %v", err)
	}
}

// TestSince: a time a little ahead of this machine's clock (the operator's
// differs) reads "0s ago", not "-3s ago".
func TestSince(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{now.Add(3 * time.Second), "0s ago"}, {now, "0s ago"}, {now.Add(-10 * time.Second), "10s ago"},
		{now.Add(-5 * time.Minute), "5m ago"}, {now.Add(-3 * time.Hour), "3h ago"},
	} {
		if got := since(c.t); got != c.want {
			t.Errorf("since(now%+v) = %q, want %q", c.t.Sub(now).Round(time.Second), got, c.want)
		}
	}
}

// TestTableEscapesControlCharacters: a cell with a newline, a tab or a
// terminal escape neither breaks the columns nor reaches the terminal.
func TestTableEscapesControlCharacters(t *testing.T) {
	var b strings.Builder
	table(&b, []string{"NAME", "REASON"}, [][]string{
		{"ci\x1b[2J", "line one\nline two"}, {"web", "a\tb"},
	})
	out := b.String()
	if strings.ContainsAny(out, "\x1b\t") || strings.Count(out, "\n") != 3 {
		t.Fatalf("control characters reached the output:\n%q", out)
	}
	for _, want := range []string{`ci\x1b[2J`, `line one\x0aline two`, `a\x09b`} {
		if !strings.Contains(out, want) {
			t.Errorf("%q does not show %q", out, want)
		}
	}
}
