// Package pki is the cluster's own certificate authority and the TLS
// settings built on it. The operator keeps one CA (its key sealed in the
// database); every node and edge makes its key pair on its own host and
// has the operator sign a certificate for it at enrolment. The roles are
// kept apart by extended key usage and a URI name:
//
//   - a node's certificate is for TLS servers only (its tunnel listener),
//     named zeitwork://node/<id>, valid for its tunnel address;
//   - an edge's certificate is for TLS clients only (tunnel connections),
//     named zeitwork://edge/<id>;
//   - the operator's is for TLS servers only (its API), valid for the
//     names it is given.
//
// A join token carries the SHA-256 pin of the CA certificate after a dot,
// so that a host that enrols over TLS knows which CA to trust before it
// has any credential.
package pki
