package operator_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestSignInRateLimitRace: wrong passwords sent at the same moment never
// get more tries than the limit; the check and the count are one step.
func TestSignInRateLimitRace(t *testing.T) {
	h := start(t, fastPasswords, func(c *operator.Config) { c.Sessions.EmailFailures, c.Sessions.AddrFailures = 2, 100 })
	h.setPassword(h.token, "", testPassword)
	const n = 12
	codes := make([]int, n)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			_, resp, _ := h.signIn("dev@acme.test", "wrong password")
			codes[i] = resp.StatusCode
		}()
	}
	close(ready)
	wg.Wait()
	tried := 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			tried++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("unexpected answer %d in %v", c, codes)
		}
	}
	if tried > 2 {
		t.Fatalf("%d passwords were checked at once with a limit of 2: %v", tried, codes)
	}
}
