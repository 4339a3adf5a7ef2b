package api

import "time"

// RegistryCredentials is PUT/GET /v1/projects/{project}/registry: the
// project's login to one external registry, used to pull its private
// images and, with Repository set, to push its builds there. Password (or
// token) is only ever sent to the operator, never returned by it.
type RegistryCredentials struct {
	// Host is the registry as image references name it:
	// "registry.example.com", "ghcr.io", "host:5000".
	Host     string `json:"host"`
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	// Repository, when set, is where builds of the project are pushed
	// ("registry.example.com/acme/web", on Host); empty: the built-in
	// registry.
	Repository string    `json:"repository,omitempty"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// RegistryAuth is a project's login to the registry its instance's image
// is on, decrypted for one delivery to the node that runs the instance.
// The node sends it to Host only and keeps it in memory only.
type RegistryAuth struct {
	Host     string `json:"host"`
	Username string `json:"username"`
	Password string `json:"password"`
}
