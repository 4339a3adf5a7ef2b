package geodns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Serve answers on udp and tcp (either may be nil) until ctx ends.
func Serve(ctx context.Context, h dns.Handler, udp net.PacketConn, tcp net.Listener) error {
	var servers []*dns.Server
	if udp != nil {
		servers = append(servers, &dns.Server{PacketConn: udp, Handler: h, UDPSize: maxUDP})
	}
	if tcp != nil {
		servers = append(servers, &dns.Server{Listener: tcp, Handler: h,
			ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }})
	}
	if len(servers) == 0 {
		return errors.New("serve dns: no listener")
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.ActivateAndServe() }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, s := range servers {
		s.Shutdown()
	}
	if err != nil {
		return fmt.Errorf("serve dns: %w", err)
	}
	return nil
}
