package guest

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// hostAway reads EOF (the host end disconnected) eofs times, then serves
// data: what a virtio port does across an agent restart.
type hostAway struct {
	eofs int
	data bytes.Buffer
}

func (h *hostAway) Read(p []byte) (int, error) {
	if h.eofs > 0 {
		h.eofs--
		return 0, io.EOF
	}
	return h.data.Read(p)
}

func (h *hostAway) Write(p []byte) (int, error) { return len(p), nil }

// While the host is away the reader waits longer each time, up to a cap,
// instead of retrying at a fixed short interval that kept an orphaned VM
// awake; once a message arrives the next outage starts short again.
func TestControlPortBacksOffWhileHostIsAway(t *testing.T) {
	port := &hostAway{eofs: 12}
	send := func(kind string) {
		t.Helper()
		if err := channel.NewConn(&port.data).Send(channel.Message{Kind: kind}); err != nil {
			t.Fatal(err)
		}
	}
	send(channel.KindConfig)
	var waits []time.Duration
	c := &controlPort{f: port, r: channel.NewConn(port), wait: func(d time.Duration) { waits = append(waits, d) }}
	m, err := c.receive()
	if err != nil || m.Kind != channel.KindConfig {
		t.Fatalf("receive: %v %v", m, err)
	}
	if len(waits) != 12 {
		t.Fatalf("waited %d times for 12 EOFs", len(waits))
	}
	if waits[0] != eofBackoffMin {
		t.Errorf("first wait %v, want %v (a restored VM's Config must not wait long)", waits[0], eofBackoffMin)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] != min(2*waits[i-1], eofBackoffMax) {
			t.Errorf("wait %d: %v after %v, want it doubled up to %v", i, waits[i], waits[i-1], eofBackoffMax)
		}
	}
	if waits[len(waits)-1] != eofBackoffMax {
		t.Errorf("last wait %v, want the cap %v", waits[len(waits)-1], eofBackoffMax)
	}
	if eofBackoffMax < time.Second {
		t.Errorf("cap %v: an orphaned VM would still wake its host more than once a second", eofBackoffMax)
	}

	waits = nil
	port.eofs = 1
	send(channel.KindSignal)
	if m, err := c.receive(); err != nil || m.Kind != channel.KindSignal {
		t.Fatalf("receive after a second outage: %v %v", m, err)
	}
	if len(waits) != 1 || waits[0] != eofBackoffMin {
		t.Errorf("a new outage waited %v, want one wait of %v", waits, eofBackoffMin)
	}
}

// The host's connect (the port's SIGIO) ends a wait at once, however long
// the backoff has grown.
func TestWaitHostEndsOnHostEvent(t *testing.T) {
	c := &controlPort{hostEvents: make(chan os.Signal, 1)}
	c.hostEvents <- os.Interrupt
	done := make(chan struct{})
	go func() { c.waitHost(time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("waitHost ignored the host event")
	}
}
