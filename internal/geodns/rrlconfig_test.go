package geodns_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/geodns"
)

// TestRRLConfig: rate limiting is on by default with the documented
// defaults; its keys are read and each mistake is refused.
func TestRRLConfig(t *testing.T) {
	base := `{"zone": "apps.example.com", "nameservers": [{"name": "ns1.example.net"}],
		"regions": [{"name": "eu", "latitude": 50, "longitude": 8, "load_balancers": ["198.51.100.10"]}]%s}`
	load := func(t *testing.T, rrl string) (geodns.Config, error) {
		path := filepath.Join(t.TempDir(), "dns.json")
		os.WriteFile(path, []byte(strings.Replace(base, "%s", rrl, 1)), 0o644)
		return geodns.LoadConfig(path)
	}
	c, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	r := c.RRL
	if r.Off || r.LogOnly || r.ResponsesPerSecond != 200 || r.NXDomainsPerSecond != 200 || r.ErrorsPerSecond != 200 ||
		time.Duration(r.Window) != 15*time.Second || *r.Slip != 2 || r.IPv4PrefixLength != 24 || r.IPv6PrefixLength != 56 || r.TableSize != 65536 {
		t.Fatalf("defaults %+v: want on, 200/s, 15s, slip 2, /24, /56, 65536", r)
	}
	c, err = load(t, `, "rrl": {"log_only": true, "responses_per_second": 50, "errors_per_second": 5, "window": "5s", "slip": 0,
		"ipv4_prefix_length": 32, "ipv6_prefix_length": 64, "table_size": 4096, "exempt": ["192.0.2.9/24", "2001:db8::/32"]}`)
	if err != nil {
		t.Fatal(err)
	}
	r = c.RRL
	if !r.LogOnly || r.ResponsesPerSecond != 50 || r.NXDomainsPerSecond != 50 || r.ErrorsPerSecond != 5 || *r.Slip != 0 ||
		r.IPv4PrefixLength != 32 || r.TableSize != 4096 || r.Exempt[0] != netip.MustParsePrefix("192.0.2.0/24") {
		t.Fatalf("read %+v: want the file's values, nxdomains at the responses' rate, exempt masked", r)
	}
	for _, bad := range []struct{ rrl, want string }{
		{`"slip": -1`, "slip -1"},
		{`"ipv4_prefix_length": 33`, "ipv4_prefix_length 33"},
		{`"ipv6_prefix_length": 129`, "ipv6_prefix_length 129"},
		{`"table_size": 1`, "table_size 1"},
		{`"window": "2h"`, "window"},
		{`"exempt": ["192.0.2.1"]`, "ParsePrefix"},
		{`"rate": 5`, "unknown field"},
	} {
		if _, err := load(t, `, "rrl": {`+bad.rrl+`}`); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("rrl {%s}: error %v, want one saying %q", bad.rrl, err, bad.want)
		}
	}
}
