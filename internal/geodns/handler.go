package geodns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// maxUDP is the largest UDP answer we send, whatever a client offers:
// the size that avoids IP fragmentation (DNS flag day 2020).
const maxUDP = 1232

// Handler answers queries (dns.Handler).
type Handler struct {
	cfg     Config
	zones   []*zone
	loc     *Locator
	regions *regions
	health  *Checker
	acme    *Challenges
	rrl     *limiter // nil: rate limiting off
	log     *slog.Logger
	metrics *metrics // nil: none kept
}

// New builds a handler from a checked configuration. Run starts its
// health checks and challenge reads.
func New(cfg Config, log *slog.Logger) (*Handler, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	loc, err := NewLocator(cfg.GeoIPDatabase, cfg.Networks)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, loc: loc, regions: newRegions(cfg.Regions), health: NewChecker(cfg.Regions, cfg.Health, log),
		rrl: newLimiter(cfg.RRL), log: log}
	serial := uint32(time.Now().Unix())
	apps := newZone(cfg.Zone, true, &cfg, serial)
	h.zones = append(h.zones, apps)
	for _, t := range cfg.Targets {
		if apps.contains(t) {
			apps.hosts[t] = true
			continue
		}
		h.zones = append(h.zones, newZone(t, false, &cfg, serial))
	}
	for _, ns := range cfg.Nameservers {
		for _, z := range h.zones {
			if z.contains(ns.Name) && len(ns.Addrs) == 0 {
				return nil, fmt.Errorf("name server %s is inside zone %s: give its addrs (glue)", ns.Name, z.apex)
			}
		}
	}
	if cfg.OperatorURL != "" {
		h.acme = NewChallenges(cfg.OperatorURL, cfg.Zone, time.Duration(cfg.ChallengeRefresh), log)
	}
	return h, nil
}

// Run checks health and reads challenges until ctx ends.
func (h *Handler) Run(ctx context.Context) {
	if h.acme != nil {
		go h.acme.Run(ctx)
	}
	h.health.Run(ctx)
}

// Checker is the handler's health checker (for tests and status).
func (h *Handler) Checker() *Checker { return h.health }

// Challenges is the handler's mirror of the ACME challenges, nil without
// an operator.
func (h *Handler) Challenges() *Challenges { return h.acme }

// Close releases the GeoIP database.
func (h *Handler) Close() error { return h.loc.Close() }

// ServeDNS answers one query, truncated to what the transport carries;
// over UDP, rate limited (rrl.go).
func (h *Handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	src := addrOf(w.RemoteAddr())
	resp := h.Answer(req, src)
	size := dns.MaxMsgSize
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(dns.MinMsgSize, min(int(opt.UDPSize()), maxUDP))
		}
		if out := h.limit(req, resp, src); out != resp {
			if out != nil {
				w.WriteMsg(out) // a slip: the question only, TC=1
			}
			return
		}
	}
	resp.Truncate(size)
	h.metrics.query(resp.Rcode)
	w.WriteMsg(resp)
}

// limit applies response rate limiting to a UDP response: resp, nil to
// drop it, or a truncated reply (TC=1, no records: never larger than
// the query) for a slip. TCP is never limited: its handshake proves the
// source address, and a slipped client retries over it.
func (h *Handler) limit(req, resp *dns.Msg, src netip.Addr) *dns.Msg {
	if h.rrl == nil {
		return resp
	}
	k := kindOf(resp)
	v, first := h.rrl.decide(src, k)
	if v == verdictSend {
		return resp
	}
	h.metrics.limited(k, v)
	if first {
		h.log.Info("dns: rate limiting responses to a client network", "network", h.rrl.network(src),
			"kind", kindNames[k], "log_only", h.cfg.RRL.LogOnly)
	}
	if h.cfg.RRL.LogOnly {
		return resp
	}
	if v == verdictDrop {
		return nil
	}
	tc := new(dns.Msg)
	tc.SetReply(req)
	tc.Authoritative = resp.Authoritative
	tc.Truncated = true
	return tc
}

// kindOf classifies a response for rate limiting.
func kindOf(resp *dns.Msg) respKind {
	switch {
	case resp.Rcode == dns.RcodeNameError:
		return kindNXDomain
	case resp.Rcode != dns.RcodeSuccess, !resp.Authoritative:
		return kindError
	}
	return kindAnswer
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
