package buildstate

import (
	"errors"
	"testing"
)

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		from string
		e    Event
		want string // "" means not allowed
	}{
		{"claim a queued build", Queued, Claim, Building},
		{"cancel a queued build", Queued, Cancel, Cancelled},
		{"cancel a running build", Building, Cancel, Cancelled},
		{"cancel while pushing", Pushing, Cancel, Cancelled},
		{"finish", Building, Finish, Done},
		{"finish after push", Pushing, Finish, Done},
		{"fail", Building, Fail, Failed},
		{"requeue an expired build", Building, Requeue, Queued},
		{"requeue while pushing", Pushing, Requeue, Queued},
		{"claim twice", Building, Claim, ""},
		{"finish a queued build", Queued, Finish, ""},
		{"requeue a queued build", Queued, Requeue, ""},
		{"cancel a finished build", Done, Cancel, ""},
		{"fail a cancelled build", Cancelled, Fail, ""},
		{"revive a failed build", Failed, Requeue, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Next(tt.from, tt.e)
			if tt.want == "" {
				if !errors.Is(err, ErrNotAllowed) {
					t.Fatalf("Next(%s, %s) = %q, %v; want ErrNotAllowed", tt.from, tt.e, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Next(%s, %s) = %q, %v; want %q", tt.from, tt.e, got, err, tt.want)
			}
		})
	}
}

// TestFinalStatusesAreFinal: nothing moves a done, failed or cancelled build.
func TestFinalStatusesAreFinal(t *testing.T) {
	for _, s := range []string{Done, Failed, Cancelled} {
		if !Final(s) {
			t.Errorf("%s is not final", s)
		}
		for _, e := range Events {
			if _, err := Next(s, e); err == nil {
				t.Errorf("%s accepts %s", s, e)
			}
		}
	}
	for _, s := range []string{Queued, Building, Pushing} {
		if Final(s) {
			t.Errorf("%s is final", s)
		}
	}
}

func TestOnExpiry(t *testing.T) {
	if OnExpiry(1) != Requeue {
		t.Error("a first expiry does not requeue")
	}
	if OnExpiry(MaxAttempts) != Fail {
		t.Error("a second expiry does not fail")
	}
}
