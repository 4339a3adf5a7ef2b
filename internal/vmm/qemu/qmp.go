package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// qmpConn is a minimal QMP client: the greeting, capability negotiation and
// one command at a time. Events that arrive in between are skipped.
type qmpConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	q := &qmpConn{c: c, r: bufio.NewReader(c)}
	if _, err := q.read(); err != nil { // greeting
		c.Close()
		return nil, fmt.Errorf("qmp greeting: %w", err)
	}
	if err := q.execute("qmp_capabilities"); err != nil {
		c.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmpConn) read() (map[string]json.RawMessage, error) {
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("decode %q: %w", line, err)
	}
	return m, nil
}

// execute runs a command and waits for its return or error.
func (q *qmpConn) execute(cmd string) error {
	if _, err := fmt.Fprintf(q.c, "{\"execute\":%q}\n", cmd); err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		m, err := q.read()
		if err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		if e, ok := m["error"]; ok {
			return fmt.Errorf("qmp %s: %s", cmd, e)
		}
		if _, ok := m["return"]; ok {
			return nil
		}
	}
}

// call runs a command with arguments (nil for none) and returns its
// return value.
func (q *qmpConn) call(cmd string, args any) (json.RawMessage, error) {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if _, err := q.c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		m, err := q.read()
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		if e, ok := m["error"]; ok {
			return nil, fmt.Errorf("qmp %s: %s", cmd, e)
		}
		if r, ok := m["return"]; ok {
			return r, nil
		}
	}
}

// sendFD hands QEMU a descriptor under name (QMP getfd, the descriptor as
// SCM_RIGHTS on the command's message).
func (q *qmpConn) sendFD(name string, f *os.File) error {
	uc, ok := q.c.(*net.UnixConn)
	if !ok {
		return errors.New("qmp getfd: not a unix socket")
	}
	b, _ := json.Marshal(map[string]any{"execute": "getfd", "arguments": map[string]string{"fdname": name}})
	if _, _, err := uc.WriteMsgUnix(append(b, '\n'), unix.UnixRights(int(f.Fd())), nil); err != nil {
		return fmt.Errorf("qmp getfd: %w", err)
	}
	for {
		m, err := q.read()
		if err != nil {
			return fmt.Errorf("qmp getfd: %w", err)
		}
		if e, ok := m["error"]; ok {
			return fmt.Errorf("qmp getfd: %s", e)
		}
		if _, ok := m["return"]; ok {
			return nil
		}
	}
}

func (q *qmpConn) Close() error { return q.c.Close() }

// awaitQMP waits until QEMU has finished setting up and greets on QMP, or
// until it exits (done closes), whichever is first.
func awaitQMP(ctx context.Context, path string, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	q, err := dialQMP(ctx, path)
	if err != nil {
		select {
		case <-done:
			return fmt.Errorf("qemu exited during start-up")
		default:
		}
		return fmt.Errorf("wait for qemu: %w", err)
	}
	return q.Close()
}
