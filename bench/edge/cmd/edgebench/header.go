package main

import (
	"bufio"
	"net"

	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// headerListener lets the backend take the edge's connections directly:
// it consumes the tunnel header that the edge writes first, which is the
// node agent's job on the production path.
type headerListener struct{ net.Listener }

func (l headerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &headerConn{Conn: c, br: bufio.NewReaderSize(c, tunnel.MaxHeaderLen)}, nil
}

// headerConn reads the header on first use, then serves the bytes that
// were buffered with it before reading the socket again.
type headerConn struct {
	net.Conn
	br   *bufio.Reader
	read bool
	err  error
}

func (c *headerConn) Read(p []byte) (int, error) {
	if !c.read {
		c.read = true
		_, _, c.err = tunnel.ReadHeader(c.br)
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.br.Buffered() > 0 {
		return c.br.Read(p)
	}
	return c.Conn.Read(p)
}
