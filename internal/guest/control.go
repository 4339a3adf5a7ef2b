package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// controlPort is the guest end of the control channel. When the host side
// disconnects (an agent restart), reads on a virtio port return EOF at once
// until a new client connects, and the port cannot be polled for that
// connect (it is "readable" while the host is away). So the reader waits
// for the kernel's SIGIO, which virtio_console sends when the host end
// opens or closes, or for a backoff that doubles up to eofBackoffMax, and
// starts over. Polling at a fixed short interval instead woke an idle VM
// 100 times a second for as long as no agent was connected.
type controlPort struct {
	f  io.ReadWriter
	w  *channel.Conn
	mu sync.Mutex
	r  *channel.Conn
	// hostEvents receives the port's SIGIOs; nil where they could not be
	// asked for, and the backoff alone paces the retries.
	hostEvents chan os.Signal
	// wait waits for the host after an EOF (waitHost; tests replace it).
	wait func(time.Duration)
}

// The reader's backoff after an EOF. Short at first because a VM restored
// from a template sees the host disconnected until its agent connects, and
// the Config must be read as soon as it arrives (the SIGIO usually ends the
// wait sooner); long at most, because a VM whose agent is gone for good
// must not keep waking its host.
const (
	eofBackoffMin = 10 * time.Millisecond
	eofBackoffMax = 5 * time.Second
)

// nextBackoff is the wait after one that lasted d.
func nextBackoff(d time.Duration) time.Duration {
	return min(2*d, eofBackoffMax)
}

func openControl(path string) (*controlPort, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open control port: %w", err)
	}
	c := &controlPort{f: f, w: channel.NewConn(f), r: channel.NewConn(f)}
	c.wait = c.waitHost
	c.hostEvents = make(chan os.Signal, 1)
	signal.Notify(c.hostEvents, unix.SIGIO)
	if err := notifyHostEvents(f); err != nil {
		consolef("control port: no SIGIO, retrying on a backoff: %v", err)
		signal.Stop(c.hostEvents)
		c.hostEvents = nil
	}
	return c, nil
}

// notifyHostEvents asks the kernel for a SIGIO to this process whenever
// the port's host end connects or disconnects (or data arrives), without
// touching the file's non-blocking mode as Fd() would.
func notifyHostEvents(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if _, serr = unix.FcntlInt(fd, unix.F_SETOWN, os.Getpid()); serr != nil {
			return
		}
		var fl int
		if fl, serr = unix.FcntlInt(fd, unix.F_GETFL, 0); serr != nil {
			return
		}
		_, serr = unix.FcntlInt(fd, unix.F_SETFL, fl|unix.O_ASYNC)
	})
	return errors.Join(err, serr)
}

// waitHost waits up to d for a sign that the host end changed.
func (c *controlPort) waitHost(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.hostEvents:
	case <-t.C:
	}
}

func (c *controlPort) send(m channel.Message) error {
	return c.w.Send(m)
}

// receive returns the next message from the host, waiting across
// disconnects.
func (c *controlPort) receive() (channel.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	backoff := eofBackoffMin
	for {
		m, err := c.r.Receive()
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, io.EOF) {
			return channel.Message{}, err
		}
		c.wait(backoff)
		backoff = nextBackoff(backoff)
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
