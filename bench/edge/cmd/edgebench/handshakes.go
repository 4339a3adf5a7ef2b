package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// handshakes measures new TLS connections per second against addr: conns
// workers each open a connection, complete a full handshake (no session
// resumption: the client keeps no session cache), send one GET with
// "Connection: close", read the whole response and close, over and over
// for d. It prints the rate, latency percentiles of the whole exchange
// and what the handshake negotiated, in a wrk-like format for run.sh.
func handshakes(addr string, conns int, d time.Duration) error {
	cfg := &tls.Config{
		ServerName: benchHost,
		// The certificate is checked once by run.sh (curl --cacert); the
		// load loop leaves verification out to spend the shared CPU on
		// the servers.
		InsecureSkipVerify: true,
		NextProtos:         []string{"http/1.1"},
		// X25519 alone, as wrk's OpenSSL offers: Go servers would pick the
		// costlier post-quantum X25519MLKEM768 that nginx and Debian's
		// Caddy do not have, which is no like-for-like comparison.
		CurvePreferences: []tls.CurveID{tls.X25519},
	}
	state, err := handshakeOnce(addr, cfg)
	if err != nil {
		return fmt.Errorf("handshake %s: %w", addr, err)
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	end := time.Now().Add(d)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(end) {
				t := time.Now()
				if _, err := handshakeOnce(addr, cfg); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("Negotiated: %s %s %s\n", tls.VersionName(state.Version),
		tls.CipherSuiteName(state.CipherSuite), state.CurveID)
	fmt.Printf("%d handshakes in %.2fs, %d errors\n", len(lat), elapsed.Seconds(), errs)
	fmt.Printf("  Latency Distribution\n     50%%   %.2fms\n     99%%   %.2fms\n", ms(pct(0.50)), ms(pct(0.99)))
	fmt.Printf("Handshakes/sec: %.2f\n", float64(len(lat))/elapsed.Seconds())
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// handshakeOnce does one fresh connection: handshake, one request, close.
func handshakeOnce(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+benchHost+"\r\nConnection: close\r\n\r\n"); err != nil {
		return tls.ConnectionState{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return c.ConnectionState(), err
}
