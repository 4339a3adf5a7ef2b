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
	if !b.Allow(t0.Add(100*time.Millisecond)) || b.Allow(t0.Add(100*time.Millisecond)) {
		t.Fatal("one token per 100 ms at 10/s")
	}
	if !b.Full(t0.Add(time.Second)) {
		t.Fatal("bucket not full after a second")
	}
	var none *Bucket
	if !none.Allow(t0) {
		t.Fatal("nil bucket refused")
	}
}
