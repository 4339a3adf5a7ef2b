package lb

import (
	"strings"
	"testing"
)

// A reload puts new edge lists in force for new connections at once,
// while a connection open to an edge that left goes on; a reload that
// changes more than the edge lists, or does not validate, changes nothing.
func TestReloadSwapsEdges(t *testing.T) {
	bs, port := startBackends(t, 41, "a", "b")
	a, b := bs[0], bs[1]
	cfg := testConfig(port, Region{Name: "r", Edges: []string{host(a)}})
	tl := startLB(t, cfg)
	open := tl.dial(t)
	if open.backend != "a" {
		t.Fatalf("before the reload: %s", open.backend)
	}

	next := cfg
	next.Regions = []Region{{Name: "r", Edges: []string{host(b)}}}
	if err := tl.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got := tl.counts(t, 4); got["b"] != 4 {
		t.Fatalf("after the reload: %v, want b only", got)
	}
	if got := open.exchange(t, "still here"); got != "got still here" {
		t.Fatalf("open connection across the reload answered %q", got)
	}
	if st := tl.Backends(); len(st) != 1 || st[0].Addr != b.addr {
		t.Fatalf("backends after the reload: %+v", st)
	}

	moved := next
	moved.Regions = []Region{{Name: "r", Edges: []string{host(a)}}}
	moved.Listeners = []Listener{{Listen: "127.0.0.1:1", EdgePort: port}}
	if err := tl.Reload(moved); err == nil || !strings.Contains(err.Error(), "restart the lb") {
		t.Fatalf("reload with other listeners: %v", err)
	}
	bad := next
	bad.Region = "nowhere"
	bad.Regions = []Region{{Name: "r", Edges: []string{host(a)}}}
	if err := tl.Reload(bad); err == nil {
		t.Fatal("reload with an invalid configuration accepted")
	}
	if got := tl.counts(t, 2); got["b"] != 2 {
		t.Fatalf("after refused reloads: %v, want b still", got)
	}
}
