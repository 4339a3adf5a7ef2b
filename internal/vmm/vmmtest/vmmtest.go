// Package vmmtest is a vmm.Driver without VMs, for unit tests of what runs
// them (the node agent's supervisor): each "VM" is a goroutine that speaks
// the guest's side of the control channel, scripted by the test, and
// writes its log file as QEMU would. It needs no root, QEMU or kernel.
package vmmtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// Driver runs fake VMs. Guest is called, in its own goroutine, for the
// first control connection of every VM started; later connections (an
// agent that restarted) are only read, and a TERM ends the VM.
type Driver struct {
	Dir   string
	Guest func(g *Guest)

	mu        sync.Mutex
	vms       map[string]*Guest
	starts    map[string]int
	destroyed map[string]int
}

// New returns a driver keeping its VMs' files under dir.
func New(dir string, guest func(g *Guest)) *Driver {
	return &Driver{Dir: dir, Guest: guest, vms: map[string]*Guest{}, starts: map[string]int{}, destroyed: map[string]int{}}
}

// Guest is one fake VM as its guest init sees it.
type Guest struct {
	Inst *vmm.Instance
	// Msgs carries the host's messages on the first control connection.
	Msgs chan channel.Message

	ln       net.Listener
	mu       sync.Mutex
	conns    []net.Conn
	done     chan struct{}
	exitOnce sync.Once
	status   vmm.ExitStatus
}

// Name implements vmm.Driver.
func (d *Driver) Name() string { return "fake" }

// Accel implements vmm.Driver.
func (d *Driver) Accel() string { return "none" }

// Starts is how often Start was called for id.
func (d *Driver) Starts(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.starts[id]
}

// Destroyed is how often Destroy was called for id.
func (d *Driver) Destroyed(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.destroyed[id]
}

// VM returns the running VM id, or nil.
func (d *Driver) VM(id string) *Guest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.vms[id]
}

// Start implements vmm.Driver.
func (d *Driver) Start(ctx context.Context, spec vmm.Spec) (*vmm.Instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if g, ok := d.vms[spec.ID]; ok && g.Alive() {
		return nil, fmt.Errorf("start vm %s: already exists", spec.ID)
	}
	dir := filepath.Join(d.Dir, spec.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "control.sock")
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	g := &Guest{
		Inst: &vmm.Instance{
			ID: spec.ID, PID: os.Getpid(), ControlSocket: sock, StartedAt: time.Now(),
			LogPath: filepath.Join(dir, "app.log"), ConsolePath: filepath.Join(dir, "console.log"),
		},
		Msgs: make(chan channel.Message, 64), ln: ln, done: make(chan struct{}),
	}
	for _, p := range []string{g.Inst.LogPath, g.Inst.ConsolePath} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			return nil, err
		}
	}
	d.vms[spec.ID] = g
	d.starts[spec.ID]++
	go g.serve(d.Guest)
	return g.Inst, nil
}

func (g *Guest) serve(script func(*Guest)) {
	first := true
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		g.conns = append(g.conns, c)
		g.mu.Unlock()
		go g.read(c, first)
		if first && script != nil {
			go script(g)
		}
		first = false
	}
}

// read passes the host's messages to the script (first connection only)
// and ends the VM on a TERM, as the guest init does once the app exits.
func (g *Guest) read(c net.Conn, first bool) {
	conn := channel.NewConn(c)
	for {
		m, err := conn.Receive()
		if err != nil {
			return
		}
		if m.Kind == channel.KindSignal && m.Signal == "TERM" {
			g.Exit(0)
			return
		}
		if first {
			select {
			case g.Msgs <- m:
			default:
			}
		}
	}
}

// Send sends a message to the host on every open control connection.
func (g *Guest) Send(m channel.Message) {
	b, _ := json.Marshal(m)
	b = append(b, '\n')
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		c.Write(b)
	}
}

// Log appends app output lines to the VM's log file, framed as the guest
// init frames them.
func (g *Guest) Log(texts ...string) error {
	f, err := os.OpenFile(g.Inst.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var b []byte
	for _, t := range texts {
		l, _ := json.Marshal(channel.LogLine{Stream: "stdout", Time: time.Now().UTC(), Text: t})
		b = append(append(b, l...), '\n')
	}
	_, err = f.Write(b)
	return err
}

// Exit ends the VM with code, as QEMU exiting would.
func (g *Guest) Exit(code int) {
	g.exitOnce.Do(func() {
		g.status = vmm.ExitStatus{Code: code}
		g.ln.Close()
		g.mu.Lock()
		for _, c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		close(g.done)
	})
}

// Alive reports whether the VM has not exited.
func (g *Guest) Alive() bool {
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// Done is closed when the VM exits.
func (g *Guest) Done() <-chan struct{} { return g.done }

func (d *Driver) get(id string) (*Guest, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.vms[id]
	if !ok {
		return nil, fmt.Errorf("vm %s: %w", id, vmm.ErrNotFound)
	}
	return g, nil
}

// Wait implements vmm.Driver.
func (d *Driver) Wait(ctx context.Context, id string) (vmm.ExitStatus, error) {
	g, err := d.get(id)
	if err != nil {
		return vmm.ExitStatus{}, err
	}
	select {
	case <-g.done:
		return g.status, nil
	case <-ctx.Done():
		return vmm.ExitStatus{}, ctx.Err()
	}
}

// Stop implements vmm.Driver.
func (d *Driver) Stop(ctx context.Context, id string) error {
	g, err := d.get(id)
	if err != nil {
		return err
	}
	g.Exit(-1)
	return nil
}

// Destroy implements vmm.Driver.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	err := d.Stop(ctx, id)
	d.mu.Lock()
	delete(d.vms, id)
	d.destroyed[id]++
	d.mu.Unlock()
	if err != nil && !errors.Is(err, vmm.ErrNotFound) {
		return err
	}
	return os.RemoveAll(filepath.Join(d.Dir, id))
}

// Recover implements vmm.Driver: the VMs still running.
func (d *Driver) Recover(ctx context.Context) ([]*vmm.Instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*vmm.Instance
	for _, g := range d.vms {
		if g.Alive() {
			out = append(out, g.Inst)
		}
	}
	return out, nil
}

var _ vmm.Driver = (*Driver)(nil)
