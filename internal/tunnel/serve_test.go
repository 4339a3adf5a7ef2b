package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuf is a goroutine-safe sink for the tunnel's log, so tests can check
// that rejections say why.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startApp runs a TCP server that reads until EOF and answers with the
// upper-cased input, so it only answers after the client's half-close.
func startApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				in, _ := io.ReadAll(c)
				c.Write(bytes.ToUpper(in))
			}()
		}
	}()
	return ln.Addr().String()
}

func startTunnel(t *testing.T, token string, routes map[string]string) (string, *logBuf) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, token, func(inst string) (string, bool) {
			a, ok := routes[inst]
			return a, ok
		}, log)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), logs
}

func dialTunnel(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

func TestServePipesWithHalfClose(t *testing.T) {
	app := startApp(t)
	addr, _ := startTunnel(t, "tok", map[string]string{"i1": app})
	c := dialTunnel(t, addr)
	// Header and payload in one write, as the edge sends them: the bytes
	// buffered along with the header must reach the app too.
	if _, err := c.Write([]byte("ZWT1 i1 tok\nhello, ")); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1<<20)
	if _, err := c.Write([]byte(big)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "HELLO, " + strings.ToUpper(big); string(got) != want {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
}

func TestServeRejects(t *testing.T) {
	app := startApp(t)
	dead := deadAddr(t)
	addr, logs := startTunnel(t, "right-token", map[string]string{"i1": app, "gone": dead})
	tests := []struct {
		name, header, log string
	}{
		{"wrong token", "ZWT1 i1 wrong-token\n", "wrong token"},
		{"token prefix", "ZWT1 i1 right\n", "wrong token"},
		{"unknown instance", "ZWT1 nope right-token\n", "unknown instance"},
		{"garbage", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "missing ZWT1 magic"},
		{"instance down", "ZWT1 gone right-token\n", "dial instance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialTunnel(t, addr)
			c.Write([]byte(tt.header + "ping"))
			c.CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil && !isReset(err) {
				t.Fatal(err)
			}
			if len(got) != 0 {
				t.Fatalf("rejected connection got %q", got)
			}
			waitFor(t, func() bool { return strings.Contains(logs.String(), tt.log) })
		})
	}
}

func TestServeSlowHeaderTimesOut(t *testing.T) {
	old := headerTimeout
	headerTimeout = 200 * time.Millisecond
	t.Cleanup(func() { headerTimeout = old })
	addr, logs := startTunnel(t, "tok", map[string]string{})
	c := dialTunnel(t, addr)
	c.Write([]byte("ZWT1 i")) // and never the rest
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil && !isReset(err) {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("slow header held for %v", d)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "i/o timeout") })
}

func TestServeStopsOnCancel(t *testing.T) {
	app := startApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, "tok", func(string) (string, bool) { return app, true }, slog.New(slog.DiscardHandler))
	}()
	// An open tunnel must not keep Serve from returning.
	c := dialTunnel(t, ln.Addr().String())
	c.Write([]byte("ZWT1 i tok\n"))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := io.ReadAll(bufio.NewReader(c)); err != nil && !isReset(err) {
		t.Fatal(err)
	}
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(err.Error(), "reset")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		<-tick.C
	}
}

func TestServeLingerBounded(t *testing.T) {
	old := lingerTimeout
	lingerTimeout = 100 * time.Millisecond
	t.Cleanup(func() { lingerTimeout = old })
	// An app that never answers nor closes, even after our half-close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr, _ := startTunnel(t, "tok", map[string]string{"mute": ln.Addr().String()})
	c := dialTunnel(t, addr)
	c.Write([]byte("ZWT1 mute tok\nhello"))
	c.CloseWrite()
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil && !isReset(err) {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("tunnel held a half-closed connection for %v", d)
	}
}

// TestServeBoundsUnauthenticated opens more idle connections than may wait
// for their header: the oldest are closed, the newest stay, and an edge
// that sends its header still gets through.
func TestServeBoundsUnauthenticated(t *testing.T) {
	oldMax, oldTimeout := maxPending, headerTimeout
	maxPending, headerTimeout = 8, time.Minute // no header timeout within the test
	t.Cleanup(func() { maxPending, headerTimeout = oldMax, oldTimeout })
	app := startApp(t)
	addr, _ := startTunnel(t, "tok", map[string]string{"i1": app})

	idle := make([]*net.TCPConn, 20)
	for i := range idle {
		idle[i] = dialTunnel(t, addr)
	}
	c := dialTunnel(t, addr)
	c.Write([]byte("ZWT1 i1 tok\nping"))
	c.CloseWrite()
	if got, err := io.ReadAll(c); err != nil || string(got) != "PING" {
		t.Fatalf("edge behind %d idle connections got %q, %v", len(idle), got, err)
	}

	// 21 connections, 8 may wait: the oldest 13 idle ones are closed.
	evicted := len(idle) + 1 - maxPending
	for i, ic := range idle[:evicted] {
		ic.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := ic.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
			t.Fatalf("idle connection %d not closed: %v", i, err)
		}
	}
	for i, ic := range idle[evicted:] {
		ic.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := ic.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("idle connection %d within the bound: %v, want it still open", evicted+i, err)
		}
	}
}
