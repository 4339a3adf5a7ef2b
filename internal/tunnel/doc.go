// Package tunnel carries edge traffic to the node agent that hosts an
// instance: the edge opens a TLS connection to the agent with its edge
// certificate (ServeTLS; the plain-TCP Serve with a shared token remains
// for tests and benchmarks), writes a one-line header naming the instance,
// and from then on the connection is a byte pipe to the app inside the VM
// (small messages copied through a pooled buffer, bulk transfers spliced:
// copy.go). A connection has 5 s to
// send its header, and at most 256 may be waiting to: past that the oldest
// waiting one is closed, so idle connections cannot lock edges out.
//
// Wire format, and the API other packages use (implemented in this package):
//
//	func WriteHeader(w io.Writer, instance, token string) error
//	func ReadHeader(r *bufio.Reader) (instance, token string, err error)
//	// Serve accepts on ln until ctx ends; each connection must present token;
//	// resolve maps an instance ID to the VM's "ip:port" (ok=false: unknown).
//	func Serve(ctx context.Context, ln net.Listener, token string,
//	    resolve func(instance string) (addr string, ok bool), log *slog.Logger) error
//	// ServeTLS is Serve over TLS; cfg must require client certificates
//	// (pki.TunnelServer), and the header's token is TLSToken. An edge
//	// certificate whose ID revoked names is refused in the handshake, and
//	// revoked.Set closes the open tunnels of the edges it adds.
//	func ServeTLS(ctx context.Context, ln net.Listener, cfg *tls.Config,
//	    resolve func(instance string) (addr string, ok bool), log *slog.Logger,
//	    revoked ...*Revocations) error
//	func NewRevocations() *Revocations
//	func (r *Revocations) Set(ids []string) (changed bool)
package tunnel
