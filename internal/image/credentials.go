package image

import (
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Credentials are a project's login to one external registry (a private
// repository on Docker Hub, GHCR, a self-hosted registry). Host is the
// registry as image references name it ("registry.example.com",
// "host:5000").
type Credentials struct {
	Host     string `json:"host"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Auth is c as an authenticator; nil for no credentials.
func (c *Credentials) Auth() authn.Authenticator {
	if c == nil || c.Host == "" {
		return nil
	}
	return &authn.Basic{Username: c.Username, Password: c.Password}
}

// OptionsFor are Options with a project's credentials as well: own goes
// to the own registry only and c to c.Host only, never to another host,
// a redirect's target or a token realm elsewhere. Credentials naming the
// own registry are ignored: the own registry's access is the platform's.
func (e *Egress) OptionsFor(own authn.Authenticator, c *Credentials) []Option {
	k, t := e.Remote(own, c)
	return []Option{WithKeychain(k), WithTransport(t)}
}

// Remote is OptionsFor for callers of go-containerregistry's remote
// package: the keychain to authenticate with and the transport that
// confines the credentials and checks every address.
func (e *Egress) Remote(own authn.Authenticator, c *Credentials) (authn.Keychain, http.RoundTripper) {
	k := hostKeychain{}
	hosts := map[string]bool{e.own: true}
	if own != nil {
		k[e.own] = own
	}
	if a := c.Auth(); a != nil && !e.IsOwn(c.Host) {
		host := strings.ToLower(c.Host)
		k[host] = a
		hosts[host] = true
	}
	return k, stripForeignAuth{hosts: hosts, next: e.dial}
}
