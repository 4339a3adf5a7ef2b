package api

// ACMEChallengePrefix is the label under which ACME DNS-01 challenges are
// published (RFC 8555, section 8.4).
const ACMEChallengePrefix = "_acme-challenge."

// ACMEChallenge is one DNS-01 TXT value: the body of PUT and DELETE
// /v1/edge/acme-challenges (an edge presents and cleans up) and an entry
// of GET /v1/dns/acme-challenges (the DNS servers read them).
type ACMEChallenge struct {
	// Name is "_acme-challenge.<apps domain>" or
	// "_acme-challenge.<host>.<apps domain>", without a trailing dot.
	Name  string `json:"name"`
	Value string `json:"value"`
}
