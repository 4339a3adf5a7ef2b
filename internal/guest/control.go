package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// controlPort is the guest end of the control channel. When the host side
// disconnects (an agent restart), reads on a virtio port return EOF at once
// until a new client connects, so the reader backs off and starts over.
type controlPort struct {
	f  *os.File
	w  *channel.Conn
	mu sync.Mutex
	r  *channel.Conn
}

// eofBackoff is how long the reader waits after an EOF. Short because a VM
// restored from a template sees the host disconnected until its agent
// connects, and the Config must be read as soon as it arrives.
const eofBackoff = 10 * time.Millisecond

func openControl(path string) (*controlPort, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open control port: %w", err)
	}
	return &controlPort{f: f, w: channel.NewConn(f), r: channel.NewConn(f)}, nil
}

func (c *controlPort) send(m channel.Message) error {
	return c.w.Send(m)
}

// receive returns the next message from the host, waiting across
// disconnects.
func (c *controlPort) receive() (channel.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		m, err := c.r.Receive()
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, io.EOF) {
			return channel.Message{}, err
		}
		time.Sleep(eofBackoff)
		c.r = channel.NewConn(c.f)
	}
}

// config waits for the host's Config; other messages before it are
// meaningless (there is no app to signal) and dropped.
func (c *controlPort) config() (*channel.Config, error) {
	for {
		m, err := c.receive()
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if m.Kind == channel.KindConfig && m.Config != nil {
			return m.Config, nil
		}
	}
}

// forwardSignals passes the host's signal messages to the app until the
// channel fails.
func (c *controlPort) forwardSignals(pid int) {
	for {
		m, err := c.receive()
		if err != nil {
			consolef("control port: %v", err)
			return
		}
		if m.Kind != channel.KindSignal {
			continue
		}
		sig, ok := signalByName(m.Signal)
		if !ok {
			consolef("unknown signal %q", m.Signal)
			continue
		}
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			consolef("forward %s: %v", m.Signal, err)
		}
	}
}

func marshalLogLine(l channel.LogLine) ([]byte, error) {
	b, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
