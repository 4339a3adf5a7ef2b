package edge

import (
	"log/slog"
	"strings"
	"testing"
)

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An edge whose --region no node is in says so, naming the regions that
// exist, once per change of them; not when its region is known, and not
// against an operator that sends no regions.
func TestUnknownRegionWarns(t *testing.T) {
	var logs syncBuffer
	e := New(Config{Region: "eu-wset"}, slog.New(slog.NewTextHandler(&logs, nil)))
	warnings := func() int { return strings.Count(logs.String(), "no node is in region") }
	table := func(regions ...string) {
		rt := routeTable(1)
		rt.Regions = append([]string{}, regions...) // never nil: the operator sends []
		e.apply(rt)
	}
	e.apply(routeTable(1)) // an older operator: Regions nil
	if n := warnings(); n != 0 {
		t.Fatalf("%d warnings without known regions: %s", n, logs.String())
	}
	table("eu", "us")
	table("eu", "us")
	if n := warnings(); n != 1 || !strings.Contains(logs.String(), "known regions: eu, us") {
		t.Fatalf("%d warnings, want 1 naming eu, us: %s", n, logs.String())
	}
	table("eu", "eu-wset")
	table("eu", "eu-wset")
	if n := warnings(); n != 1 {
		t.Fatalf("warned with the region known: %s", logs.String())
	}
	table()
	if n := warnings(); n != 2 || !strings.Contains(logs.String(), "known regions: none yet") {
		t.Fatalf("no warning without any region: %s", logs.String())
	}
	if err := CheckRegion("EU West"); err == nil || !strings.Contains(err.Error(), "--region") {
		t.Fatalf("CheckRegion(EU West) = %v", err)
	}
	if err := CheckRegion("eu-west"); err != nil {
		t.Fatal(err)
	}
}
