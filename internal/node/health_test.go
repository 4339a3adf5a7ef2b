package node

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm/vmmtest"
)

// A starting instance is checked as soon as its guest says the app
// listens, not at the next tick of the start probe: here the tick never
// comes, and the instance must be healthy all the same.
func TestSupervisorProbesWhenGuestListens(t *testing.T) {
	h := newHarness(t, boots)
	a := h.agent(t)
	a.startProbe = time.Hour
	start(t, a, h.desired())
	waitUntil(t, 10*time.Second, "healthy instance", func() bool { return h.op.count(api.InstanceHealthy) > 0 })
}

// The guest gets its Config before the node reports the instance booting:
// that report is a round trip to the operator, and a restored guest waits
// for nothing but its Config. The fake operator holds the "booting"
// report until the guest has its Config; sent first, it would be held.
func TestSupervisorConfiguresGuestBeforeReporting(t *testing.T) {
	configured := make(chan struct{})
	h := newHarness(t, func(g *vmmtest.Guest) {
		<-g.Msgs
		close(configured)
		g.Send(channel.Message{Kind: channel.KindHello, UptimeMS: 100})
		g.Send(channel.Message{Kind: channel.KindListening, UptimeMS: 150})
	})
	var heldUp atomic.Bool
	op := h.op
	h.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var rep api.InstanceReport
		json.Unmarshal(body, &rep)
		if rep.State == api.InstanceStarting && strings.HasPrefix(rep.Reason, "booting") {
			select {
			case <-configured:
			case <-time.After(3 * time.Second):
				heldUp.Store(true)
			}
		}
		op.ServeHTTP(w, r)
	})
	a := h.agent(t)
	start(t, a, h.desired())
	select {
	case <-configured:
	case <-time.After(20 * time.Second):
		t.Fatal("the guest got no config")
	}
	waitUntil(t, 10*time.Second, "healthy instance", func() bool { return h.op.count(api.InstanceHealthy) > 0 })
	if heldUp.Load() {
		t.Error("a report to the operator came before the guest's Config")
	}
}
