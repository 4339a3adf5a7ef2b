package geodns_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/geodns"
)

// TestLoadConfig: the documented example loads with its defaults, and
// each mistake is refused with what to fix.
func TestLoadConfig(t *testing.T) {
	good := `{"zone": "Apps.Example.com.", "targets": ["edge.example.net"],
		"nameservers": [{"name": "ns1.example.net"}],
		"regions": [{"name": "eu", "latitude": 50, "longitude": 8, "load_balancers": ["198.51.100.10", "2001:db8::10"]}],
		"networks": {"10.0.0.0/8": "eu"}, "health": {"interval": "3s"}}`
	tests := []struct {
		name, text, wantErr string
	}{
		{"good", good, ""},
		{"unknown key", `{"zone": "a.test", "colour": 1}`, "unknown field"},
		{"no zone", strings.Replace(good, `"Apps.Example.com."`, `""`, 1), "give the apps domain"},
		{"no regions", strings.Replace(good, `"regions"`, `"regionz_unused"`, 1), "unknown field"},
		{"no load balancers", strings.Replace(good, `"load_balancers": ["198.51.100.10", "2001:db8::10"]`, `"load_balancers": []`, 1), "give its load_balancers"},
		{"bad address", strings.Replace(good, `"198.51.100.10"`, `"lb.example.com"`, 1), "ParseAddr"},
		{"network to no region", strings.Replace(good, `"10.0.0.0/8": "eu"`, `"10.0.0.0/8": "us"`, 1), "which is no region"},
		{"bad network", strings.Replace(good, `"10.0.0.0/8"`, `"10.0.0.0"`, 1), "give a CIDR prefix"},
		{"bad duration", strings.Replace(good, `"3s"`, `"3 seconds"`, 1), "give a duration"},
		{"no nameservers", strings.Replace(good, `[{"name": "ns1.example.net"}]`, `[]`, 1), "nameservers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dns.json")
			os.WriteFile(path, []byte(tc.text), 0o644)
			c, err := geodns.LoadConfig(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Zone != "apps.example.com." || c.TTL != 30 || c.NegativeTTL != 60 || c.Health.Port != 80 ||
				time.Duration(c.Health.Interval) != 3*time.Second || c.Hostmaster != "hostmaster.apps.example.com." {
				t.Fatalf("config %+v: want the zone canonical and the defaults filled in", c)
			}
		})
	}
}
