package testbed

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// resolve asks server, from inside the client's namespace, for name's A
// records, with an EDNS Client Subnet option when ecs is valid.
func resolve(from *host, server netip.Addr, name string, ecs netip.Prefix) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := from.dial(ctx, "udp", netip.AddrPortFrom(server, 53).String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	if ecs.IsValid() {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
			SourceNetmask: uint8(ecs.Bits()), Address: ecs.Addr().AsSlice()})
		m.Extra = append(m.Extra, o)
	}
	co := &dns.Conn{Conn: c}
	if err := co.WriteMsg(m); err != nil {
		return nil, err
	}
	resp, err := co.ReadMsg()
	if err != nil {
		return nil, err
	}
	if resp.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("rcode %s", dns.RcodeToString[resp.Rcode])
	}
	var out []netip.Addr
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A.To4())
			out = append(out, addr)
		}
	}
	return out, nil
}

// httpClient makes requests from inside the client's namespace.
func httpClient(from *host) *http.Client {
	return &http.Client{
		// A browser waits this long too; requests that hit a node as it
		// vanishes take seconds (the edge's TCP_USER_TIMEOUT, then
		// another instance), and must still succeed.
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return from.dial(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 4,
		},
	}
}

// get requests http://lb/ with the app's Host from the client.
func get(c *http.Client, lb netip.Addr, hostname string) (int, string, error) {
	req, _ := http.NewRequest("GET", "http://"+lb.String()+"/", nil)
	req.Host = hostname
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// load requests the app through a load balancer from a client, with a
// few requests in flight at all times, until stopped.
type load struct {
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu       sync.Mutex
	n        int
	failures []string
	slowest  time.Duration
}

func startLoad(from *host, lb netip.Addr, hostname string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	c := httpClient(from)
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				start := time.Now()
				code, body, err := get(c, lb, hostname)
				took := time.Since(start)
				l.mu.Lock()
				l.n++
				l.slowest = max(l.slowest, took)
				if err != nil || code != 200 {
					l.failures = append(l.failures, fmt.Sprintf("%s after %s: %d %v %.200s",
						start.Format("15:04:05.000"), took.Round(time.Millisecond), code, err, strings.TrimSpace(body)))
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// finish stops the load and returns how many requests were made and the
// failed ones; it may be called again.
func (l *load) finish() (int, []string) {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.failures
}
