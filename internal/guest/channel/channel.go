// Package channel is the protocol between the node agent and the guest init
// inside a microVM. It is shared by both sides.
//
// The control channel is a virtio-serial port named "zeitwork.ctl" whose host
// end is a unix socket. Messages are JSON objects, one per line. The host
// sends a Config as soon as it connects (the port buffers it until the guest
// opens the port); the guest answers with events. Configuration travels here
// and not on the kernel command line because the command line shows in the
// host's process list, and because config that arrives after boot lets a later
// version restore pre-booted VMs from a snapshot.
//
// The log port, "zeitwork.log", carries the app's stdout and stderr to a file
// on the host, one LogLine per line.
package channel

import "time"

// Port names of the virtio-serial ports, as seen in the guest under
// /sys/class/virtio-ports/*/name.
const (
	ControlPort = "zeitwork.ctl"
	LogPort     = "zeitwork.log"
)

// Message kinds.
const (
	KindConfig    = "config"    // host -> guest: Config
	KindSignal    = "signal"    // host -> guest: Signal ("TERM", "KILL", ...)
	KindHello     = "hello"     // guest -> host: init started; UptimeMS set
	KindStarted   = "started"   // guest -> host: app process started; PID set
	KindListening = "listening" // guest -> host: app listens on its port; UptimeMS set
	// KindLoopback: guest -> host: the app listens on its port on loopback
	// only, where the host cannot reach it; Address set ("127.0.0.1:8080").
	KindLoopback = "loopback"
	// KindIPv6Only: guest -> host: the app listens on its port on an IPv6
	// socket with IPV6_V6ONLY, which the host cannot reach over IPv4;
	// Address set ("[::]:8080").
	KindIPv6Only = "ipv6_only"
	// KindOtherPort: guest -> host: the app listens, others can reach it,
	// but on another port than its own; Address set ("0.0.0.0:80").
	KindOtherPort = "other_port"
	KindExit      = "exit"  // guest -> host: app exited; ExitCode set
	KindError     = "error" // guest -> host: init failed; Error set
)

// Message is one line on the control channel.
type Message struct {
	Kind     string  `json:"kind"`
	Config   *Config `json:"config,omitempty"`
	Signal   string  `json:"signal,omitempty"`
	UptimeMS int64   `json:"uptime_ms,omitempty"`
	PID      int     `json:"pid,omitempty"`
	ExitCode int     `json:"exit_code,omitempty"`
	Error    string  `json:"error,omitempty"`
	Address  string  `json:"address,omitempty"`
	// Reason says why the app exited when the guest knows it
	// (ExitOutOfMemory); Signal then names the signal that killed it.
	Reason string `json:"reason,omitempty"`
}

// ExitOutOfMemory is an exit message's Reason when the guest kernel's
// out-of-memory killer ended the app.
const ExitOutOfMemory = "out of memory"

// Config is everything the guest needs to run one instance.
type Config struct {
	InstanceID string `json:"instance_id"`
	Hostname   string `json:"hostname"`
	// RootDevice is the block device holding the app's root file system.
	RootDevice string  `json:"root_device"`
	Network    Network `json:"network"`
	// Argv is the process to run: the image's entrypoint followed by its cmd.
	Argv []string `json:"argv"`
	// Env is the full environment (image env, PORT, project env vars).
	Env        []string `json:"env"`
	WorkingDir string   `json:"working_dir,omitempty"`
	// User is "name", "uid" or "uid:gid", resolved in the guest's /etc/passwd.
	User string `json:"user,omitempty"`
	// Port is where the app is expected to listen.
	Port int `json:"port"`
	// Time sets the guest clock; Entropy seeds the guest's random pool.
	Time    time.Time `json:"time"`
	Entropy []byte    `json:"entropy"`
}

// Network configures the guest's eth0.
type Network struct {
	Address string `json:"address"` // CIDR, e.g. "10.213.0.5/24"
	Gateway string `json:"gateway"`
	// MAC is eth0's hardware address; empty keeps the one the VMM gave.
	MAC string   `json:"mac,omitempty"`
	MTU int      `json:"mtu,omitempty"`
	DNS []string `json:"dns,omitempty"`
}

// LogLine is one line of app output on the log port.
type LogLine struct {
	Stream string    `json:"s"` // "stdout" or "stderr"
	Time   time.Time `json:"t"`
	Text   string    `json:"l"`
}
