package guest

import "testing"

// Captured from a guest: a listener on :8080 (0x1F90) over IPv6, an
// established connection on 22, a listener on 127.0.0.1:53.
const tcp4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0200FA0A:0016 0100FA0A:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 29 10 -1
`

const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3 1 0000000000000000 100 0 0 10 0
`

func TestListensOn(t *testing.T) {
	tests := []struct {
		name  string
		table string
		port  int
		want  bool
	}{
		{"v4 listener", tcp4, 53, true},
		{"v4 established is not listening", tcp4, 22, false},
		{"v4 other port", tcp4, 8080, false},
		{"v6 listener", tcp6, 8080, true},
		{"header only", "  sl  local_address rem_address   st\n", 53, false},
		{"garbage", "x\ny z\n: : :\n", 1, false},
		{"empty", "", 80, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listensOn([]byte(tt.table), tt.port); got != tt.want {
				t.Errorf("listensOn(%d) = %v, want %v", tt.port, got, tt.want)
			}
		})
	}
}

func FuzzListensOn(f *testing.F) {
	f.Add([]byte(tcp4), 53)
	f.Add([]byte(tcp6), 8080)
	f.Fuzz(func(t *testing.T, table []byte, port int) {
		listensOn(table, port)
	})
}
