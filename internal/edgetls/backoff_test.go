package edgetls

import (
	"testing"
	"time"
)

func TestFailureBackoff(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	b := newFailureBackoff()
	b.now = func() time.Time { return now }
	if err := b.check("a.test"); err != nil {
		t.Fatalf("a name that never failed waits: %v", err)
	}
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute} {
		b.failed("a.test", "boom")
		now = now.Add(wait - time.Second)
		if b.check("a.test") == nil {
			t.Fatalf("failure %d: tried again after %v, want %v", i+1, wait-time.Second, wait)
		}
		if b.check("b.test") != nil {
			t.Fatal("another name waits too")
		}
		now = now.Add(time.Second)
		if err := b.check("a.test"); err != nil {
			t.Fatalf("failure %d: still waiting after %v: %v", i+1, wait, err)
		}
	}
	for range 20 {
		b.failed("a.test", "boom")
	}
	now = now.Add(6*time.Hour - time.Second)
	if b.check("a.test") == nil {
		t.Fatal("the wait did not grow to 6 h")
	}
	now = now.Add(time.Second)
	if b.check("a.test") != nil {
		t.Fatal("the wait grew past 6 h")
	}
	b.failed("a.test", "boom")
	b.succeeded("a.test")
	if err := b.check("a.test"); err != nil {
		t.Fatalf("a success did not reset the backoff: %v", err)
	}
}
