package procstat

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseSmapsRollup(t *testing.T) {
	in := `55d0c6a00000-7ffc4c5fe000 ---p 00000000 00:00 0                          [rollup]
Rss:              222000 kB
Pss:              180500 kB
Pss_Anon:          90000 kB
Shared_Clean:      41000 kB
Shared_Dirty:       1000 kB
Private_Clean:     60000 kB
Private_Dirty:    120000 kB
Swap:                  0 kB
`
	var s Sample
	if err := parseSmapsRollup(strings.NewReader(in), &s); err != nil {
		t.Fatal(err)
	}
	const kb = 1024
	if s.RSS != 222000*kb || s.PSS != 180500*kb || s.USS != 180000*kb || s.Shared != 42000*kb {
		t.Fatalf("parsed %+v", s)
	}
	if err := parseSmapsRollup(strings.NewReader("nothing here\n"), &s); err == nil {
		t.Fatal("a file without Rss parsed")
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		bad      bool
	}{
		{name: "qemu", in: "4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194560 3000 0 0 0 1234 566 0 0 20 0 3 0 100 1 2 3",
			want: 18 * time.Second},
		{name: "name with spaces and parens", in: "7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 1 1",
			want: 100 * time.Millisecond},
		{name: "truncated", in: "7 (x) R 1 7", bad: true},
		{name: "no name", in: "garbage", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestCPUPercentOverAWindow(t *testing.T) {
	t0 := time.Now()
	a := Sample{At: t0, CPU: time.Second}
	b := Sample{At: t0.Add(10 * time.Second), CPU: time.Second + 50*time.Millisecond}
	if got := CPUPercent(a, b); got < 0.499 || got > 0.501 {
		t.Fatalf("cpu %.3f%%, want 0.5%%", got)
	}
	if got := CPUPercent(b, a); got != 0 {
		t.Fatalf("backwards window: %.3f", got)
	}
}

// Reading this test's own process gives plausible figures.
func TestReadSelf(t *testing.T) {
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS == 0 || s.USS > s.RSS || s.PSS < s.USS || s.PSS > s.RSS || s.Shared > s.RSS {
		t.Fatalf("implausible %+v", s)
	}
	if _, err := Read(-1); err == nil {
		t.Fatal("read a process that cannot exist")
	}
}
