// Command hostile is an app that attacks the network from inside its VM,
// for the platform's containment tests. It runs as root in its VM and
// serves on $PORT:
//
//	/healthz                      ok
//	/dial?addr=HOST:PORT          a TCP connection from the VM: ok or error
//	/udp?addr=HOST:PORT           a UDP datagram, ok if an echo comes back
//	/steal?mac=MAC&addr=ADDR      take another VM's MAC and address (after
//	                              answering), then claim them by ARP
//
// Every request that arrives for a stolen address is answered "stolen" and
// logged as "stolen request", so a test can see what reached it.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

var stolen atomic.Value // netip.Addr being claimed

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /dial", func(w http.ResponseWriter, r *http.Request) { answer(w, dialTCP(r.URL.Query().Get("addr"))) })
	mux.HandleFunc("GET /udp", func(w http.ResponseWriter, r *http.Request) { answer(w, dialUDP(r.URL.Query().Get("addr"))) })
	mux.HandleFunc("GET /steal", stealHandler)
	srv := &http.Server{Handler: countStolen(mux), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile: listen:", err)
		os.Exit(1)
	}
	fmt.Println("hostile: listening on", ln.Addr())
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}

// countStolen answers and logs every request that was sent to a stolen
// address instead of serving it.
func countStolen(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if a, ok := stolen.Load().(netip.Addr); ok && local != nil {
			if ap, err := netip.ParseAddrPort(local.String()); err == nil && ap.Addr().Unmap() == a {
				fmt.Printf("hostile: stolen request %s %s\n", r.Method, r.URL)
				fmt.Fprintln(w, "stolen")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func answer(w http.ResponseWriter, res string) {
	if res != "ok" {
		w.WriteHeader(http.StatusBadGateway)
	}
	fmt.Fprintln(w, res)
}

func dialTCP(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 1500*time.Millisecond)
	if err != nil {
		return "error: " + err.Error()
	}
	c.Close()
	return "ok"
}

func dialUDP(addr string) string {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "error: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(1500 * time.Millisecond))
	if _, err := c.Write([]byte("ping")); err != nil {
		return "error: " + err.Error()
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil {
		return "error: " + err.Error()
	}
	if !strings.HasPrefix(string(buf[:n]), "ping") {
		return "error: unexpected answer"
	}
	return "ok"
}

func stealHandler(w http.ResponseWriter, r *http.Request) {
	mac, err := net.ParseMAC(r.URL.Query().Get("mac"))
	addr, err2 := netip.ParseAddr(r.URL.Query().Get("addr"))
	if err != nil || err2 != nil || !addr.Is4() {
		http.Error(w, "need ?mac= and ?addr= (IPv4)", http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "stealing")
	// Answer before the MAC changes: afterwards this VM may be cut off.
	go func() {
		time.Sleep(200 * time.Millisecond)
		if err := steal(context.Background(), mac, addr); err != nil {
			fmt.Println("hostile: steal failed:", err)
		}
	}()
}
