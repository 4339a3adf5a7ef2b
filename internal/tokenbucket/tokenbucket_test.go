package tokenbucket

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := New(10, 5, t0)
	n := 0
	for range 100 {
		if b.Allow(t0) {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("burst allowed %d, want 5", n)
	}
	if b.Full(t0) {
		t.Fatal("empty bucket reported full")
	}
	if w := b.Wait(t0.Add(25 * time.Millisecond)); w != 75*time.Millisecond {
		t.Fatalf("wait %v for the next token, want 75ms", w)
	}
	if !b.Allow(t0.Add(100*time.Millisecond)) || b.Allow(t0.Add(100*time.Millisecond)) {
		t.Fatal("one token per 100 ms at 10/s")
	}
	if !b.Full(t0.Add(time.Second)) {
		t.Fatal("bucket not full after a second")
	}
	if w := b.Wait(t0.Add(time.Second)); w != 0 {
		t.Fatalf("full bucket: wait %v, want 0", w)
	}
	var none *Bucket
	if !none.Allow(t0) {
		t.Fatal("nil bucket refused")
	}
}
