package setup

import (
	"net"
	"net/url"
	"strings"
)

// Node and edge credentials, join tokens, env vars and registry logins
// cross the link between a host and the operator, so set-up refuses to
// make that link plain HTTP between machines (issue 8: encrypted whenever
// it crosses machines). Loopback stays allowed: one machine running
// several roles has no network to protect.

// checkOperatorURL refuses an operator URL a node or edge would reach in
// clear over the network.
func checkOperatorURL(op string) error {
	u, err := url.Parse(op)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return &Error{Msg: "--operator " + op + " is not an http(s) URL",
			Hint: "e.g. --operator https://ctl.example.com:7070"}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return &Error{Msg: "--operator " + op + " is plain HTTP to another machine: this host's credential and its apps' secrets would cross the network in clear",
			Hint: "serve the operator's API over TLS (zeitwork setup operator --args \"... --tls-name " + u.Hostname() + "\") and use https://" + u.Host}
	}
	return nil
}

// checkOperatorListen refuses operator flags that serve the API on a
// non-loopback address without TLS (--tls-name).
func checkOperatorListen(args string) error {
	fields := strings.Fields(args)
	listen, tls := "", false
	for i, f := range fields {
		switch {
		case f == "--listen" && i+1 < len(fields):
			listen = fields[i+1]
		case strings.HasPrefix(f, "--listen="):
			listen = strings.TrimPrefix(f, "--listen=")
		case f == "--tls-name" || strings.HasPrefix(f, "--tls-name="):
			tls = true
		}
	}
	if listen == "" || tls {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil || isLoopback(host) {
		return nil // the operator itself reports a bad --listen
	}
	return &Error{Msg: "the operator would serve its API on " + listen + " in plain HTTP: nodes' and edges' credentials and apps' secrets would cross the network in clear",
		Hint: "add --tls-name with the name or address nodes and edges dial, e.g. --args \"--listen " + listen + " --tls-name ctl.example.com\"; or listen on 127.0.0.1 behind your own TLS proxy"}
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
