package channel

import (
	"syscall"
	"testing"
)

func TestParseSignal(t *testing.T) {
	for name, want := range map[string]syscall.Signal{
		"TERM": syscall.SIGTERM, "SIGQUIT": syscall.SIGQUIT, "sigint": syscall.SIGINT,
		"winch": syscall.SIGWINCH, "9": syscall.SIGKILL, "SIGUSR2": syscall.SIGUSR2, "SIGPWR": syscall.SIGPWR,
	} {
		if got, ok := ParseSignal(name); !ok || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
	for _, bad := range []string{"", "BOGUS", "SIG", "0", "65", "-1"} {
		if got, ok := ParseSignal(bad); ok {
			t.Errorf("ParseSignal(%q) = %v, want refused", bad, got)
		}
	}
}
