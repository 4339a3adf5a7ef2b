package network

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestHostDNS(t *testing.T) {
	tests := []struct {
		name, conf string
		want       []string
	}{
		{"usable resolvers", "search example.com\nnameserver 192.0.2.53\nnameserver 198.51.100.1\n", []string{"192.0.2.53", "198.51.100.1"}},
		{"loopback stub is skipped", "nameserver 127.0.0.53\nnameserver 192.0.2.53\n", []string{"192.0.2.53"}},
		{"only a stub: public fallback", "nameserver 127.0.0.53\noptions edns0\n", fallbackDNS},
		{"ipv6 and garbage skipped", "nameserver ::1\nnameserver fe80::1\nnameserver nope\n", fallbackDNS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "resolv.conf")
			os.WriteFile(p, []byte(tt.conf), 0o644)
			if got := HostDNS(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("HostDNS = %v, want %v", got, tt.want)
			}
		})
	}
	if got := HostDNS("/nonexistent"); !reflect.DeepEqual(got, fallbackDNS) {
		t.Errorf("missing file: %v", got)
	}
}
