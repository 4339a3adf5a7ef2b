package tunnel

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHeader(&buf, "inst-01.a_b", "s3cr3t/+=~"); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("GET / HTTP/1.1\r\n")
	r := bufio.NewReader(&buf)
	inst, tok, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if inst != "inst-01.a_b" || tok != "s3cr3t/+=~" {
		t.Fatalf("got %q %q", inst, tok)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("bytes after the header: %q", rest)
	}
}

func TestReadHeaderRejects(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty line", "\n"},
		{"wrong magic", "ZWT2 a b\n"},
		{"http request", "GET / HTTP/1.1\r\n"},
		{"no token", "ZWT1 inst\n"},
		{"empty instance", "ZWT1  tok\n"},
		{"empty token", "ZWT1 inst \n"},
		{"space in token", "ZWT1 inst to ken\n"},
		{"slash in instance", "ZWT1 ../x tok\n"},
		{"control byte", "ZWT1 inst t\x00k\n"},
		{"unterminated", "ZWT1 inst tok"},
		{"too long", "ZWT1 inst " + strings.Repeat("a", MaxHeaderLen) + "\n"},
		{"instance too long", "ZWT1 " + strings.Repeat("a", maxInstanceLen+1) + " tok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadHeader(bufio.NewReader(strings.NewReader(tt.in)))
			if err == nil {
				t.Fatalf("ReadHeader(%q) accepted", tt.in)
			}
		})
	}
}

func TestReadHeaderBounded(t *testing.T) {
	// An endless line must stop at MaxHeaderLen, not buffer it all.
	r := bufio.NewReaderSize(io.MultiReader(strings.NewReader("ZWT1 "), endless{}), 4096)
	_, _, err := ReadHeader(r)
	if !errors.Is(err, ErrBadHeader) {
		t.Fatalf("err = %v, want ErrBadHeader", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestWriteHeaderRejects(t *testing.T) {
	for _, c := range [][2]string{{"", "tok"}, {"in st", "tok"}, {"inst", ""}, {"inst", "a b"}, {"inst\n", "tok"}} {
		if err := WriteHeader(io.Discard, c[0], c[1]); err == nil {
			t.Errorf("WriteHeader(%q, %q) accepted", c[0], c[1])
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add([]byte("ZWT1 inst tok\n"))
	f.Add([]byte("ZWT1 inst tok\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("ZWT1  \n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		inst, tok, err := ReadHeader(r)
		if err != nil {
			return
		}
		// Whatever is accepted must be writable again, byte for byte.
		var buf bytes.Buffer
		if err := WriteHeader(&buf, inst, tok); err != nil {
			t.Fatalf("accepted %q %q but WriteHeader refuses: %v", inst, tok, err)
		}
		if !bytes.HasPrefix(in, buf.Bytes()) {
			t.Fatalf("round trip %q is not a prefix of %q", buf.Bytes(), in)
		}
		if buf.Len() > MaxHeaderLen {
			t.Fatalf("accepted a header of %d bytes", buf.Len())
		}
	})
}
