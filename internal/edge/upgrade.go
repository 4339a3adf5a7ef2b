package edge

import (
	"io"
	"net"
	"net/http"
	"time"
)

// switchProtocols finishes an upgrade (WebSocket) the instance accepted:
// it takes the client's connection over from net/http, relays the 101
// response and then pipes bytes both ways until both sides are done.
func (e *Edge) switchProtocols(w http.ResponseWriter, c *upConn, resp *http.Response) (int, error) {
	defer c.conn.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 has no Upgrade; such a request cannot get here.
		return fail(w, http.StatusBadGateway, "protocol upgrade needs HTTP/1.1"), nil
	}
	client, brw, err := hj.Hijack()
	if err != nil {
		return fail(w, http.StatusBadGateway, "protocol upgrade failed"), nil
	}
	defer client.Close()
	client.SetDeadline(time.Time{}) // the server's read timeouts no longer apply
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	resp.Header.Write(brw) // keeps Connection and Upgrade, which 101 needs
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return http.StatusSwitchingProtocols, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(c.conn, brw.Reader) // bytes the client sent early, then the rest
		closeWrite(c.conn)
		c.conn.SetReadDeadline(time.Now().Add(lingerTimeout))
	}()
	io.Copy(client, c.br)
	closeWrite(client)
	client.SetReadDeadline(time.Now().Add(lingerTimeout))
	<-done
	return http.StatusSwitchingProtocols, nil
}

// lingerTimeout bounds how long one direction of an upgraded connection
// stays open after the other ended, as in package tunnel.
const lingerTimeout = time.Minute

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	c.Close()
}
