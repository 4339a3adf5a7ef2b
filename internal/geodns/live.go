package geodns

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Live answers with a Handler that Reload replaces while serving (a
// SIGHUP of `zeitwork dns`): queries in flight finish on the old one,
// the next ones get the new one, and the old one's checks stop and its
// GeoIP database closes once no query uses it.
type Live struct {
	cur atomic.Pointer[liveHandler]
	log *slog.Logger

	mu  sync.Mutex      // serialises Run's start and Reload
	ctx context.Context // Run's; nil before Run
}

// liveHandler is one Handler and what retires it.
type liveHandler struct {
	*Handler
	stop context.CancelFunc // ends its Run; nil before Live.Run

	use    sync.RWMutex // held for reading by every query it answers
	closed bool         // under use: retired, queries go to the next one
}

// NewLive serves h until a reload.
func NewLive(h *Handler, log *slog.Logger) *Live {
	l := &Live{log: log}
	l.cur.Store(&liveHandler{Handler: h})
	return l
}

// Handler is the handler in force.
func (l *Live) Handler() *Handler { return l.cur.Load().Handler }

// ServeDNS answers with the handler in force.
func (l *Live) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	for {
		h := l.cur.Load()
		h.use.RLock()
		if !h.closed {
			h.ServeDNS(w, req)
			h.use.RUnlock()
			return
		}
		h.use.RUnlock() // retired between the load and the lock: take the new one
	}
}

// Run runs the handler in force (health checks, challenge reads), and
// every later one, until ctx ends.
func (l *Live) Run(ctx context.Context) {
	l.mu.Lock()
	l.ctx = ctx
	l.start(l.cur.Load())
	l.mu.Unlock()
	<-ctx.Done()
}

// start runs h under l.ctx (under mu).
func (l *Live) start(h *liveHandler) {
	ctx, cancel := context.WithCancel(l.ctx)
	h.stop = cancel
	go h.Run(ctx)
}

// Reload builds a handler from cfg and puts it in force. On an error
// (cfg invalid, GeoIP database unreadable) the running one stays.
func (l *Live) Reload(cfg Config) error {
	nh, err := New(cfg, l.log)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.cur.Load()
	nh.metrics = old.metrics.adopt(nh)
	if reflect.DeepEqual(old.cfg.RRL, nh.cfg.RRL) {
		nh.rrl = old.rrl // a reload during a flood keeps its limits
	}
	next := &liveHandler{Handler: nh}
	if l.ctx != nil {
		l.start(next)
	}
	l.cur.Store(next)
	go l.retire(old)
	return nil
}

// retire stops old's checks and, once no query uses it, closes it.
func (l *Live) retire(old *liveHandler) {
	if old.stop != nil {
		old.stop()
	}
	old.use.Lock()
	old.closed = true
	old.use.Unlock()
	if err := old.Close(); err != nil {
		l.log.Warn("dns: close the replaced configuration's GeoIP database", "err", err)
	}
}
