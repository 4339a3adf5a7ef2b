package api

import (
	"strings"
	"testing"
)

func TestParseDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.com": "example.com", "WWW.Example.COM.": "www.example.com", " a-b.example.co.uk ": "a-b.example.co.uk",
		"xn--bcher-kva.example": "xn--bcher-kva.example", "3com.com": "3com.com",
	} {
		if got, err := ParseDomain(in); err != nil || got != want {
			t.Errorf("ParseDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", ".", "localhost", "com.", "-a.example.com", "a-.example.com", "a..example.com", ".example.com",
		"*.example.com", "_dmarc.example.com", "exa mple.com", "example.com:80", "1.2.3.4", "::1", "[::1]",
		"bücher.example", "a/b.example.com", "example.com\x00", strings.Repeat("a", 64) + ".com",
		strings.Repeat("abcdefghi.", 26) + "com",
	} {
		if got, err := ParseDomain(in); err == nil {
			t.Errorf("ParseDomain(%q) = %q, want an error", in, got)
		}
	}
}

// FuzzParseDomain: whatever a tenant sends, a name that is accepted is a
// host name in the route table's form (lower case, no port, no trailing
// dot, only letters, digits, hyphens and dots, at most 253 bytes) and
// parses to itself again.
func FuzzParseDomain(f *testing.F) {
	for _, s := range []string{"example.com", "WWW.Example.com.", "a..b", "1.2.3.4", "*.x.y", "xn--p1ai.xn--p1ai", "a-.b", strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDomain(s)
		if err != nil {
			return
		}
		if len(got) > 253 || got == "" || strings.HasSuffix(got, ".") || strings.Count(got, ".") < 1 {
			t.Fatalf("ParseDomain(%q) = %q", s, got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				t.Fatalf("ParseDomain(%q) = %q holds %q", s, got, c)
			}
		}
		for _, l := range strings.Split(got, ".") {
			if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("ParseDomain(%q) = %q has label %q", s, got, l)
			}
		}
		if again, err := ParseDomain(got); err != nil || again != got {
			t.Fatalf("ParseDomain(%q) = %q, which parses to %q, %v", s, got, again, err)
		}
	})
}
