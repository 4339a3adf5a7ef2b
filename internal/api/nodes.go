package api

import "time"

// RegisterNodeRequest is the body of POST /v1/nodes/register. A new node
// is authenticated with a single-use node join token (the bearer token). A
// node that registers again with its NodeID and its current NodeToken keeps
// its identity (and its instances) and needs no join token; its old tokens
// are revoked. Without that token an existing NodeID is refused.
type RegisterNodeRequest struct {
	NodeID     string `json:"node_id,omitempty"`
	NodeToken  string `json:"node_token,omitempty"`
	Region     string `json:"region"`
	Hostname   string `json:"hostname"`
	TunnelAddr string `json:"tunnel_addr"`
	Driver     string `json:"driver"`
	Accel      string `json:"accel"`
	// VCPUs, MemoryMiB and DiskGiB are what the node offers instances
	// (detected from the host unless overridden); 0: unknown, and the
	// scheduler then places on the node without a capacity check.
	VCPUs     int `json:"vcpus,omitempty"`
	MemoryMiB int `json:"memory_mib,omitempty"`
	DiskGiB   int `json:"disk_gib,omitempty"`
	// CSR is a PEM certificate request for the key of the node's tunnel
	// listener, made on the node's host.
	CSR string `json:"csr"`
}

// HeartbeatRequest is the body of POST /v1/nodes/{id}/heartbeat, which
// may be empty (older agents send none).
type HeartbeatRequest struct {
	// DiskFreeMiB is the free space of the file system that holds the
	// node's VM disks; the scheduler places no root disk where it would
	// not fit (docs/operations.md, "Disk").
	// Its size is disk_gib of the registration.
	DiskFreeMiB *int `json:"disk_free_mib,omitempty"`
}

// RegisterNodeResponse carries the node's own credentials.
type RegisterNodeResponse struct {
	NodeID    string `json:"node_id"`
	NodeToken string `json:"node_token"`
	// Certificate is the tunnel listener's certificate (PEM), valid for
	// the tunnel address; CA is the cluster CA, whose edge certificates
	// the listener accepts and which the operator's chain ends in.
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
	// Registry is where images of deployments can be pulled, with NodeToken.
	// The node sends NodeToken to no other registry.
	Registry string `json:"registry"`
	// AllowedRegistries may be pulled from although they are on loopback,
	// private or link-local addresses (which are refused otherwise).
	AllowedRegistries []string `json:"allowed_registries,omitempty"`
}

// DesiredState is GET /v1/nodes/{id}/desired: every instance the node must
// run or stop. Long-polled with ?after=<Version>.
type DesiredState struct {
	Version   int64             `json:"version"`
	Instances []DesiredInstance `json:"instances"`
	// RevokedEdges are the IDs of removed edges whose certificates may
	// not have expired yet: the node's tunnel listener refuses them and
	// closes their open connections.
	RevokedEdges []string `json:"revoked_edges"`
	// DirectEdges are the source addresses of the cluster's edges that
	// use the direct transport: a node with --direct-addr admits only
	// them to its published ports, and cuts the flows of one that leaves.
	DirectEdges []string `json:"direct_edges,omitempty"`
}

// DesiredInstance is everything a node needs to run one instance.
type DesiredInstance struct {
	ID         string `json:"id"`
	Deployment string `json:"deployment"`
	Project    string `json:"project"`
	// Desired is "running" or "stopped".
	Desired string `json:"desired"`
	Image   string `json:"image"`
	Port    int    `json:"port"`
	// HealthPath: empty for a TCP check, else the path of an HTTP check.
	HealthPath string `json:"health_path,omitempty"`
	MemoryMiB  int    `json:"memory_mib"`
	VCPUs      int    `json:"vcpus"`
	// Env holds the project's env vars, decrypted for this delivery only.
	Env []string `json:"env,omitempty"`
	// RegistryAuth is the project's login to the registry of Image, when
	// it has one for that host, likewise decrypted for this delivery only.
	RegistryAuth *RegistryAuth `json:"registry_auth,omitempty"`
}

// InstanceReport is POST /v1/nodes/{id}/instances/{instance}: what the node
// observed.
type InstanceReport struct {
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Address  string `json:"address,omitempty"`
	Restarts int    `json:"restarts"`
	// DirectAddr is "host:port" where the node publishes the instance's
	// app to the edges (zeitwork node --direct-addr); empty: not published.
	DirectAddr string `json:"direct_addr,omitempty"`
	// Permanent marks a failure that a retry cannot fix (the image does not
	// exist, has no entrypoint): the deployment fails at once.
	Permanent bool `json:"permanent,omitempty"`
	// Timings are boot stage durations for the first healthy start.
	Timings map[string]time.Duration `json:"timings,omitempty"`
	// DiskMiB is the size of the root disk the node built from the
	// instance's image, sent when the VM boots: the scheduler counts the
	// image's instances at it (docs/operations.md, "Disk").
	DiskMiB int `json:"disk_mib,omitempty"`
	// Usage is the VM's host memory and CPU, sent by a healthy instance
	// every so often in a report without a State: such a report changes
	// nothing else.
	Usage *InstanceUsage `json:"usage,omitempty"`
}

// InstanceUsage is what one instance's VM costs its host, as measured on
// the node from the VMM process (QEMU).
type InstanceUsage struct {
	// RSSBytes is all resident memory of the VMM process; USSBytes the
	// part only it holds (freed when it ends: guest pages it touched, the
	// translation cache, QEMU's heap); SharedBytes the part it maps
	// together with other processes (QEMU's code and libraries, a
	// template's guest pages); PSSBytes divides each shared page among
	// the processes that map it, so summing it over instances gives the
	// node's total.
	RSSBytes    uint64 `json:"rss_bytes"`
	PSSBytes    uint64 `json:"pss_bytes"`
	USSBytes    uint64 `json:"uss_bytes"`
	SharedBytes uint64 `json:"shared_bytes"`
	// CPUPercent is the host CPU the VM used over the last sampling
	// window (user and system time of all its threads), in percent of
	// one core; absent until two samples were taken.
	CPUPercent *float64  `json:"cpu_percent,omitempty"`
	SampledAt  time.Time `json:"sampled_at"`
}

// LogBatch is POST /v1/nodes/{id}/logs.
type LogBatch struct {
	Lines []LogLine `json:"lines"`
}
