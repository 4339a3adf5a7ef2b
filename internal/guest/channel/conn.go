package channel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// maxLine bounds one message or log line on the wire; a Config with many
// env vars stays far below it.
const maxLine = 4 << 20

// Conn sends and receives Messages, one JSON object per line. Send and
// Receive may be called from different goroutines; each is serialised.
type Conn struct {
	wmu sync.Mutex
	w   io.Writer
	rmu sync.Mutex
	r   *bufio.Scanner
	c   io.Closer
}

// NewConn wraps a stream (a virtio-serial port in the guest, the control
// socket on the host).
func NewConn(rw io.ReadWriter) *Conn {
	s := bufio.NewScanner(rw)
	s.Buffer(make([]byte, 64<<10), maxLine)
	c := &Conn{w: rw, r: s}
	if cl, ok := rw.(io.Closer); ok {
		c.c = cl
	}
	return c
}

// Dial connects to a VM's control socket (vmm.Instance.ControlSocket).
func Dial(ctx context.Context, socketPath string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("dial control socket: %w", err)
	}
	return NewConn(nc), nil
}

// Send writes one message as a single write, so that a message is never
// split between two writers.
func (c *Conn) Send(m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("send %s: %w", m.Kind, err)
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("send %s: %w", m.Kind, err)
	}
	return nil
}

// Receive reads the next message. It returns io.EOF when the peer closed.
func (c *Conn) Receive() (Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if !c.r.Scan() {
		if err := c.r.Err(); err != nil {
			return Message{}, fmt.Errorf("receive: %w", err)
		}
		return Message{}, io.EOF
	}
	var m Message
	if err := json.Unmarshal(c.r.Bytes(), &m); err != nil {
		return Message{}, fmt.Errorf("receive: decode: %w", err)
	}
	return m, nil
}

// Close closes the underlying stream, if it can be closed.
func (c *Conn) Close() error {
	if c.c == nil {
		return nil
	}
	return c.c.Close()
}

// ReadLogLines decodes a log file (or stream) of LogLines and calls fn for
// each one. A torn last line, as a VM killed mid-write leaves, is ignored.
func ReadLogLines(r io.Reader, fn func(LogLine) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // a line without '\n' is incomplete
		}
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		var l LogLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("read log: decode: %w", err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
}
