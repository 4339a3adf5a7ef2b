package lifecycle

import (
	"errors"
	"testing"
)

// TestTransitions spells out every (status, event) pair: a change to the
// table must change this test too.
func TestTransitions(t *testing.T) {
	const no = "" // not allowed
	want := map[string]map[Event]string{
		Deploying: {Retry: Deploying, Resolve: Deploying, Fail: Failed, Promote: Ready, Supersede: Stopped, Replace: no, Stop: Stopped},
		Ready:     {Retry: no, Resolve: no, Fail: no, Promote: no, Supersede: no, Replace: Stopped, Stop: Stopped},
		Failed:    {Retry: no, Resolve: no, Fail: no, Promote: no, Supersede: no, Replace: no, Stop: no},
		Stopped:   {Retry: no, Resolve: no, Fail: no, Promote: no, Supersede: no, Replace: no, Stop: no},
	}
	for _, from := range Statuses {
		for _, e := range Events {
			t.Run(from+"/"+string(e), func(t *testing.T) {
				exp, listed := want[from][e]
				if !listed {
					t.Fatalf("pair missing from the test's table")
				}
				got, err := Next(from, e)
				if exp == no {
					if !errors.Is(err, ErrNotAllowed) {
						t.Fatalf("got %q, %v; want not allowed", got, err)
					}
					return
				}
				if err != nil || got != exp {
					t.Fatalf("got %q, %v; want %q", got, err, exp)
				}
			})
		}
	}
}

func TestUnknownStatusAllowsNothing(t *testing.T) {
	for _, e := range Events {
		if _, err := Next("resolving", e); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("%s from an unknown status: %v", e, err)
		}
	}
}

func TestFinal(t *testing.T) {
	for status, final := range map[string]bool{Deploying: false, Ready: false, Failed: true, Stopped: true} {
		if Final(status) != final {
			t.Errorf("Final(%s) = %v", status, !final)
		}
	}
}
