package github

import (
	"strings"
	"testing"
)

// FuzzParsePush: any body parses or fails without panicking, and what
// parses holds only checked values (they reach URLs and the database).
func FuzzParsePush(f *testing.F) {
	f.Add([]byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("a", 40) + `","repository":{"full_name":"o/r"},"installation":{"id":1},"head_commit":{"message":"m","author":{"name":"a"}}}`))
	f.Add([]byte(`{"ref":"refs/heads/x","after":"0000000000000000000000000000000000000000","deleted":true,"repository":{"full_name":"o/r"}}`))
	f.Add([]byte(`{"zen":"ping"}`))
	f.Add([]byte(`{"repository":{"full_name":"../x"},"after":"../../etc"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePush(body)
		if err != nil {
			return
		}
		if !ValidRepo(p.Repo) {
			t.Fatalf("unchecked repository %q", p.Repo)
		}
		if !p.Deleted && (!shaPattern.MatchString(p.After) || p.Installation <= 0) {
			t.Fatalf("unchecked commit %q / installation %d", p.After, p.Installation)
		}
		if len(p.Message) > 1000 || len(p.Author) > 200 {
			t.Fatalf("unbounded message or author")
		}
	})
}
