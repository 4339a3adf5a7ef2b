package tunnel

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// TestCopyConnBulkThenInteractive: a transfer larger than the buffer
// switches copyConn to splicing a chunk, and small messages that follow
// within that chunk still go through one by one, as they come: the
// splice does not wait for the chunk to fill. The bytes arrive intact and
// in order across the switch.
func TestCopyConnBulkThenInteractive(t *testing.T) {
	src, in := tcpPair(t)  // the test writes src, copyConn reads in
	out, dst := tcpPair(t) // copyConn writes out, the test reads dst
	done := make(chan error, 1)
	go func() {
		_, err := copyConn(out, in)
		out.CloseWrite()
		done <- err
	}()

	bulk := make([]byte, 3*copyBufSize+123)
	for i := range bulk {
		bulk[i] = byte(i * 7)
	}
	go src.Write(bulk)
	got := make([]byte, len(bulk))
	if _, err := io.ReadFull(dst, got); err != nil {
		t.Fatalf("read bulk: %v", err)
	}
	if !bytes.Equal(got, bulk) {
		t.Fatal("bulk transfer corrupted")
	}
	dst.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 20 {
		msg := []byte{'m', byte('a' + i)}
		if _, err := src.Write(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(dst, buf); err != nil {
			t.Fatalf("small message %d did not come through on its own: %v", i, err)
		}
		if !bytes.Equal(buf, msg) {
			t.Fatalf("message %d: got %q, want %q", i, buf, msg)
		}
	}
	src.CloseWrite()
	if rest, err := io.ReadAll(dst); err != nil || len(rest) != 0 {
		t.Fatalf("after the source's end: %q, %v; want EOF", rest, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("copyConn: %v", err)
	}
}

// BenchmarkCopySmall is one direction of a tunnel carrying small
// request-sized messages one at a time (write, copy, read), with copyConn
// and with io.Copy (splice between the TCP sockets), which it replaced.
// The difference per op is the copier's cost per message; cpu-ns/op (the
// process's CPU time, this side's write and read included) is steadier
// than ns/op on a loaded machine.
func BenchmarkCopySmall(b *testing.B) {
	for _, bc := range []struct {
		name string
		copy func(dst, src net.Conn) (int64, error)
	}{{"copyConn", copyConn}, {"io.Copy", func(dst, src net.Conn) (int64, error) { return io.Copy(dst, src) }}} {
		b.Run(bc.name, func(b *testing.B) {
			src, in := tcpPair(b)
			out, dst := tcpPair(b)
			go bc.copy(out, in)
			msg := make([]byte, 200)
			buf := make([]byte, len(msg))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := src.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(dst, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
