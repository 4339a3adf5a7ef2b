package main

import (
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// tenOctet finds the second octet of the 10.X addresses the tree's Go
// code names: as text ("10.248.%d.1", "10.251.0.0/24") or as bytes
// ({10, 244, b, 0}).
var tenOctet = regexp.MustCompile(`"10\.(\d{1,3})\.|\{10, ?(\d{1,3}),`)

// TestSubnetsUnused: the bench's subnets are in /16s that no other code
// in the tree uses, so that it can run beside any test or bench.
func TestSubnetsUnused(t *testing.T) {
	mine := map[int]bool{}
	var prefixes []netip.Prefix
	for _, s := range []string{coldSubnet, coldTransit, tmplSubnet, tmplTransit} {
		p := netip.MustParsePrefix(s)
		for _, q := range prefixes {
			if q.Overlaps(p) {
				t.Fatalf("%s overlaps %s", p, q)
			}
		}
		prefixes = append(prefixes, p)
		mine[int(p.Addr().As4()[1])] = true
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || filepath.Dir(path) == filepath.Join(root, "bench", "vm") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range tenOctet.FindAllStringSubmatch(string(b), -1) {
			n, _ := strconv.Atoi(m[1] + m[2])
			if mine[n] {
				t.Errorf("%s uses 10.%d.0.0/16 too, which bench/vm's platforms use", path, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
