package lb

import (
	"io"
	"net"
	"sync"
)

// bufSize is the relay's buffer per direction, as HAProxy's default
// tune.bufsize: small messages (HTTP requests and answers) fit in one
// read.
const bufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// copier moves one direction of a relay. It starts with a read/write loop
// through a pooled buffer: for the small messages of request/answer
// traffic that is two system calls a message, where splicing costs three
// and a pipe. Once a read fills the buffer the traffic is bulk, and it
// hands over to io.Copy, which splices (no copy through user space).
type copier struct {
	dst, src *net.TCPConn
	buf      *[]byte
	bulk     bool
}

// copy copies until src ends (nil error) or fails, and returns the bytes
// it moved.
func (c *copier) copy() (int64, error) {
	if c.bulk {
		return io.Copy(c.dst, c.src)
	}
	if c.buf == nil {
		c.buf = bufPool.Get().(*[]byte)
	}
	buf := *c.buf
	var total int64
	for {
		nr, err := c.src.Read(buf)
		if nr > 0 {
			nw, werr := c.dst.Write(buf[:nr])
			total += int64(nw)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if nr == len(buf) {
			c.bulk = true
			c.release()
			n, err := io.Copy(c.dst, c.src)
			return total + n, err
		}
	}
}

// release gives the buffer back to the pool.
func (c *copier) release() {
	if c.buf != nil {
		bufPool.Put(c.buf)
		c.buf = nil
	}
}
