package lb

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/pires/go-proxyproto"
)

// checkLoop checks b every Health.Interval until ctx ends, first at once.
func (l *LB) checkLoop(ctx context.Context, b *backend) {
	t := time.NewTicker(time.Duration(l.cfg.Health.Interval))
	defer t.Stop()
	for {
		err := l.check(ctx, b)
		if b.report(err == nil, l.cfg.Health) {
			l.logState(b, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *LB) logState(b *backend, err error) {
	if b.up.Load() {
		l.log.Info("edge up", "edge", b.addr, "region", b.region)
		return
	}
	l.log.Warn("edge down", "edge", b.addr, "region", b.region, "err", err)
}

// check is one health check of b: a TCP connect, or with Health.HTTPPath
// an HTTP GET answered below 500.
func (l *LB) check(ctx context.Context, b *backend) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(l.cfg.Health.Timeout))
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// Connections go where the last good check went: no name lookups
	// on the connection path.
	b.setTarget(c.RemoteAddr().(*net.TCPAddr).AddrPort())
	if l.cfg.Health.HTTPPath == "" {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return l.checkHTTP(c)
}

func (l *LB) checkHTTP(c net.Conn) error {
	if *l.cfg.ProxyProtocol {
		// LOCAL: a connection of the load balancer's own, with no client.
		h := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
		if _, err := h.WriteTo(c); err != nil {
			return err
		}
	}
	req := "GET " + l.cfg.Health.HTTPPath + " HTTP/1.1\r\nHost: zeitwork-lb-check\r\nUser-Agent: zeitwork-lb\r\nConnection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("health check %s: status %d", l.cfg.Health.HTTPPath, resp.StatusCode)
	}
	return nil
}
