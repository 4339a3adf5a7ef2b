// Package edgetls gives the edge automatic HTTPS: certmagic with on-demand
// issuance for the hosts of the route table only, a certmagic.Storage over
// the operator's API (Storage) shared by every edge, an HTTP handler that
// answers ACME HTTP-01 challenges and redirects everything else to HTTPS,
// and a local CA for `zeitwork up` (LocalCA).
package edgetls
