package operator

import (
	"strings"
	"testing"
)

// TestPasswordHash: a hash is argon2id in PHC form with OWASP's costs,
// salted (two hashes of one password differ), and verifies only its own
// password.
func TestPasswordHash(t *testing.T) {
	a, b := hashPassword("correct horse battery", defaultArgon), hashPassword("correct horse battery", defaultArgon)
	if !strings.HasPrefix(a, "$argon2id$v=19$m=19456,t=2,p=1$") || a == b {
		t.Fatalf("hashes %q and %q", a, b)
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"correct horse batterY", false}, {"", false}} {
		ok, err := verifyPassword(a, c.pw)
		if err != nil || ok != c.want {
			t.Errorf("verify %q: %v %v, want %v", c.pw, ok, err, c.want)
		}
	}
}

// TestParsePHCRefusesBadHashes: a corrupt or hostile stored hash is an
// error, never a verification with absurd costs.
func TestParsePHCRefusesBadHashes(t *testing.T) {
	good := hashPassword("correct horse battery", argonParams{memoryKiB: 64, passes: 1, lanes: 1})
	if _, _, _, err := parsePHC(good); err != nil {
		t.Fatalf("good hash: %v", err)
	}
	parts := strings.Split(good, "$")
	for name, bad := range map[string]string{
		"empty":       "",
		"bcrypt":      "$2a$10$abcdefghijklmnopqrstuu",
		"argon2i":     strings.Replace(good, "argon2id", "argon2i", 1),
		"huge memory": strings.Replace(good, "m=64", "m=99999999", 1),
		"zero passes": strings.Replace(good, "t=1", "t=0", 1),
		"bad salt":    strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$"),
		"short key":   strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
	} {
		if _, _, _, err := parsePHC(bad); err == nil {
			t.Errorf("%s: %q accepted", name, bad)
		}
	}
}
