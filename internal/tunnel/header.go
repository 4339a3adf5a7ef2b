package tunnel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Header line: "ZWT1 <instance> <token>\n". The magic names the protocol
// version so that a later format can coexist with this one.
const magic = "ZWT1"

// MaxHeaderLen bounds the header line, newline included, so that a client
// cannot make the agent buffer an endless line.
const MaxHeaderLen = 512

// Limits on the two fields; together with the magic they fit MaxHeaderLen.
const (
	maxInstanceLen = 128
	maxTokenLen    = 256
)

// ErrBadHeader is wrapped by every ReadHeader and WriteHeader error that is
// about the header's content rather than the transport.
var ErrBadHeader = errors.New("bad tunnel header")

// WriteHeader writes the header that opens a tunnel to instance.
func WriteHeader(w io.Writer, instance, token string) error {
	if err := checkInstance(instance); err != nil {
		return fmt.Errorf("write tunnel header: %w", err)
	}
	if err := checkToken(token); err != nil {
		return fmt.Errorf("write tunnel header: %w", err)
	}
	// One Write call so that the header usually leaves in one segment.
	if _, err := io.WriteString(w, magic+" "+instance+" "+token+"\n"); err != nil {
		return fmt.Errorf("write tunnel header: %w", err)
	}
	return nil
}

// ReadHeader reads and validates one header line from r. It reads at most
// MaxHeaderLen bytes; bytes after the newline stay buffered in r.
func ReadHeader(r *bufio.Reader) (instance, token string, err error) {
	line, err := readLine(r)
	if err != nil {
		return "", "", fmt.Errorf("read tunnel header: %w", err)
	}
	rest, ok := strings.CutPrefix(line, magic+" ")
	if !ok {
		return "", "", fmt.Errorf("read tunnel header: %w: missing %s magic", ErrBadHeader, magic)
	}
	instance, token, ok = strings.Cut(rest, " ")
	if !ok {
		return "", "", fmt.Errorf("read tunnel header: %w: want \"%s <instance> <token>\"", ErrBadHeader, magic)
	}
	if err := checkInstance(instance); err != nil {
		return "", "", fmt.Errorf("read tunnel header: %w", err)
	}
	if err := checkToken(token); err != nil {
		return "", "", fmt.Errorf("read tunnel header: %w", err)
	}
	return instance, token, nil
}

// readLine returns the line without its "\n", reading no more than
// MaxHeaderLen bytes whatever the size of r's buffer.
func readLine(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for b.Len() < MaxHeaderLen {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && b.Len() > 0 {
				return "", fmt.Errorf("%w: unterminated line", ErrBadHeader)
			}
			return "", err
		}
		if c == '\n' {
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return "", fmt.Errorf("%w: longer than %d bytes", ErrBadHeader, MaxHeaderLen)
}

// checkInstance accepts IDs made of letters, digits, '-', '_' and '.', the
// alphabet of UUIDs and of our generated names.
func checkInstance(s string) error {
	if s == "" || len(s) > maxInstanceLen {
		return fmt.Errorf("%w: instance must be 1 to %d bytes", ErrBadHeader, maxInstanceLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: invalid byte %q in instance", ErrBadHeader, c)
		}
	}
	return nil
}

// checkToken accepts printable ASCII without spaces, so that any base64,
// hex or URL-safe token fits.
func checkToken(s string) error {
	if s == "" || len(s) > maxTokenLen {
		return fmt.Errorf("%w: token must be 1 to %d bytes", ErrBadHeader, maxTokenLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: invalid byte in token", ErrBadHeader)
		}
	}
	return nil
}
