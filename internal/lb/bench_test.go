package lb

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/pires/go-proxyproto"
)

// BenchmarkRelayPingPong sends 64-byte messages back and forth through
// the load balancer over 16 kept-alive connections: the relay's cost per
// small request and answer, as in HTTP keep-alive traffic.
func BenchmarkRelayPingPong(b *testing.B) {
	b.ReportAllocs()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	pl := &proxyproto.Listener{Listener: ln}
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	tl := startLB(b, testConfig(ln.Addr().(*net.TCPAddr).Port, Region{Name: "eu", Edges: []string{"127.0.0.1"}}))
	const conns = 16
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range conns {
		c, err := net.Dial("tcp", tl.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		wg.Go(func() {
			msg := make([]byte, 64)
			for range work {
				if _, err := c.Write(msg); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkConnPerRequest opens a connection through the load balancer
// for every exchange (accept, edge connect, PROXY header, relay, close),
// with allocations: the per-connection path. The client's and the test
// edge's allocations are counted too; BenchmarkRelayPingPong's kept-alive
// connections allocate nothing per message.
func BenchmarkConnPerRequest(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	pl := &proxyproto.Listener{Listener: ln}
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	tl := startLB(b, testConfig(ln.Addr().(*net.TCPAddr).Port, Region{Name: "eu", Edges: []string{"127.0.0.1"}}))
	msg := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", tl.addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
