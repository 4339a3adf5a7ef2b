package tunnel

import (
	"io"
	"net"
	"sync"
)

// Copying one direction of a tunnel. Most traffic through a node's tunnel
// is small HTTP requests and responses on kept-alive connections, where
// splice(2) costs two system calls and a pipe per chunk and a plain read
// and write into a pooled buffer cost less (bench/edge: the tunnel process
// spent some 23 µs of CPU per proxied request, 85% of it in splice). Bulk
// transfers, where splice saves the copy through user space, are told
// apart by a read that fills the whole buffer: from then on the next
// spliceChunk bytes go through ReadFrom, which splices between two TCP
// connections, and then the loop reads again.
const (
	copyBufSize = 16 << 10
	spliceChunk = 4 << 20
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyConn copies src to dst until src ends or either fails, like
// io.Copy, and returns the bytes copied.
func copyConn(dst, src net.Conn) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	rf, canSplice := dst.(io.ReaderFrom)
	_, srcTCP := src.(*net.TCPConn)
	canSplice = canSplice && srcTCP
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return total, nil
			}
			return total, rerr
		}
		if canSplice && n == len(buf) {
			lr := &io.LimitedReader{R: src, N: spliceChunk}
			w, err := rf.ReadFrom(lr)
			total += w
			if err != nil {
				return total, err
			}
			if lr.N > 0 {
				return total, nil // src ended before the chunk did
			}
		}
	}
}
