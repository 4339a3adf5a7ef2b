package guestkernel

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pierrec/lz4/v4"
)

const (
	lz4LegacyMagic = 0x184C2102
	// lz4LegacyBlockMax is the fixed uncompressed size of every block but the
	// last in the legacy format.
	lz4LegacyBlockMax = 8 << 20
)

// decompressLZ4Legacy decodes the LZ4 "legacy" frame the kernel build uses
// for bzImage payloads (lz4 -l). The kernel appends the uncompressed size as
// a 4-byte trailer, which reads like a block header with no block after it;
// the loop stops there. A repeated magic number starts a new stream, as in
// the kernel's own decoder.
func decompressLZ4Legacy(src []byte) ([]byte, error) {
	if len(src) < 4 || binary.LittleEndian.Uint32(src) != lz4LegacyMagic {
		return nil, errors.New("lz4: not a legacy frame")
	}
	src = src[4:]
	var out []byte
	block := make([]byte, lz4LegacyBlockMax)
	for len(src) >= 4 {
		size := binary.LittleEndian.Uint32(src)
		src = src[4:]
		if size == lz4LegacyMagic {
			continue
		}
		if len(src) == 0 {
			break // the appended uncompressed-size trailer
		}
		if int(size) > len(src) {
			return nil, fmt.Errorf("lz4: block of %d bytes, %d left", size, len(src))
		}
		n, err := lz4.UncompressBlock(src[:size], block)
		if err != nil {
			return nil, fmt.Errorf("lz4: uncompress block: %w", err)
		}
		out = append(out, block[:n]...)
		src = src[size:]
	}
	if len(out) == 0 {
		return nil, errors.New("lz4: empty stream")
	}
	return out, nil
}
