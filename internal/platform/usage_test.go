package platform

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// checkUsage is the end-to-end check of issue 11's usage reporting, run
// on the healthy deployment of TestEndToEnd (no VMs of its own): each
// instance shows its VM's memory and host CPU in the API and the node's
// metrics, the figures are plausible, and they follow the guest when its
// app touches memory.
func checkUsage(t *testing.T, e *env, deployment string) {
	const mib = 1 << 20
	usages := func() (map[string]api.InstanceUsage, string) {
		d := e.getDeployment(deployment)
		out := map[string]api.InstanceUsage{}
		var why []string
		for _, in := range d.Instances {
			if in.State != api.InstanceHealthy {
				continue
			}
			if u := in.Usage; u != nil && u.CPUPercent != nil {
				out[in.ID] = *u
			} else {
				why = append(why, in.ID[:8]+": no usage with a cpu share yet")
			}
		}
		return out, strings.Join(why, "; ")
	}
	var before map[string]api.InstanceUsage
	e.eventually("usage of three healthy instances", 30*time.Second, func() (bool, string) {
		u, why := usages()
		before = u
		return len(u) == 3, fmt.Sprintf("%d with usage; %s", len(u), why)
	})
	for id, u := range before {
		// Plausible: a booted guest touched tens of MiB; only this VM
		// holds guest RAM, QEMU's libraries are shared with the others;
		// PSS lies between what is its own and all it maps.
		if u.RSSBytes < 20*mib || u.USSBytes >= u.RSSBytes || u.SharedBytes == 0 ||
			u.PSSBytes < u.USSBytes || u.PSSBytes > u.RSSBytes || *u.CPUPercent < 0 || *u.CPUPercent > 100 {
			t.Errorf("instance %s: implausible usage %+v (cpu %.2f%%)", id[:8], u, *u.CPUPercent)
		}
	}

	// The node's metrics show the same kinds, per instance.
	resp, err := http.Get(e.p.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for id := range before {
		for _, kind := range []string{"uss", "pss", "shared", "rss"} {
			re := regexp.MustCompile(`zeitwork_node_instance_memory_bytes\{[^}]*instance_id="` + id + `",kind="` + kind + `"[^}]*\} [1-9]`)
			if !re.Match(b) {
				t.Errorf("metrics lack the %s memory of instance %s", kind, id[:8])
			}
		}
		re := regexp.MustCompile(`zeitwork_node_instance_cpu_seconds_total\{[^}]*instance_id="` + id + `"`)
		if !re.Match(b) {
			t.Errorf("metrics lack the cpu seconds of instance %s", id[:8])
		}
	}

	// The guest's app touches 48 MiB: its VM's unique memory grows by most
	// of it (the guest may reuse a few pages it had touched before).
	status, body, err := e.get(e.host(api.VersionedLabel("hello", deployment)), "/alloc?mib=48")
	if err != nil || status != 200 {
		t.Fatalf("alloc: %d %v %s", status, err, body)
	}
	e.eventually("one instance's unique memory to grow by 24 MiB", 30*time.Second, func() (bool, string) {
		now, _ := usages()
		var seen []string
		for id, u := range now {
			if u.USSBytes >= before[id].USSBytes+24*mib {
				return true, ""
			}
			seen = append(seen, fmt.Sprintf("%s %d->%d MiB", id[:8], before[id].USSBytes/mib, u.USSBytes/mib))
		}
		return false, strings.Join(seen, ", ")
	})
}
