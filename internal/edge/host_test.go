package edge

import (
	"strings"
	"testing"
)

func TestNormalizeHost(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello.localhost", "hello.localhost"},
		{"port", "hello.localhost:8080", "hello.localhost"},
		{"upper", "Hello-AB12.Example.COM", "hello-ab12.example.com"},
		{"trailing dot", "hello.example.com.", "hello.example.com"},
		{"dot and port", "Hello.example.com.:443", "hello.example.com"},
		{"ipv4", "127.0.0.1:80", "127.0.0.1"},
		{"ipv6 port", "[::1]:8080", "::1"},
		{"ipv6 bare brackets", "[::1]", "::1"},
		{"ipv6 unbracketed", "::1", "::1"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normalizeHost(tt.in); got != tt.want {
				t.Fatalf("normalizeHost(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeHostNoAlloc(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { normalizeHost("hello.localhost:8080") })
	if n != 0 {
		t.Fatalf("%v allocations for an already normal host", n)
	}
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"a.b", "A.B.:80", "[::1]:1", "::1", "x.", ":", "[", "]:", "..:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := normalizeHost(in)
		if again := normalizeHost(got); again != got && !strings.Contains(got, ":") {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, got, again)
		}
		if strings.HasSuffix(got, ".") {
			t.Fatalf("%q -> %q keeps a trailing dot", in, got)
		}
		if strings.ContainsAny(got, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("%q -> %q is not lower case", in, got)
		}
		if len(got) > len(in) {
			t.Fatalf("%q -> %q grew", in, got)
		}
	})
}
