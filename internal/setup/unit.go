package setup

import (
	"fmt"
	"strings"
)

// descriptions name each role's unit.
var descriptions = map[string]string{
	"operator": "Zeitwork operator (API, registry, scheduler)",
	"node":     "Zeitwork node agent (runs instances as microVMs)",
	"edge":     "Zeitwork edge (HTTP routing to instances)",
	"lb":       "Zeitwork L4 load balancer",
	"dns":      "Zeitwork authoritative GeoDNS",
}

// execArgs are the role's fixed flags; the settings file adds the rest.
func execArgs(role string) string {
	switch role {
	case "operator":
		return "--state-dir=" + stateDir(role) + " --builds=${ZEITWORK_BUILDS}"
	case "node":
		return "--operator=${ZEITWORK_OPERATOR} --region=${ZEITWORK_REGION} --state-dir=" + stateDir(role) + " --kernel-cache=" + KernelCache
	case "edge":
		return "--operator=${ZEITWORK_OPERATOR} --state-dir=" + stateDir(role)
	default: // lb, dns
		return "--config=" + ConfigDir + "/" + role + ".json"
	}
}

// renderUnit is the role's systemd unit. The hardening differs by role:
//
//   - edge, lb, dns run as a dynamic unprivileged user that may only bind
//     ports below 1024 (80, 443, 53), in a read-only file system
//     (ProtectSystem=strict) apart from their own state, cache and log
//     directories, with private /tmp and devices, no kernel tunables,
//     modules or cgroups, no new namespaces and system calls limited to
//     @system-service. They need nothing more.
//   - The operator runs as root because its Dockerfile builds do (buildah
//     and runc make namespaces, overlay mounts and one cgroup per build
//     under /sys/fs/cgroup): it gets no new privileges, a read-only /usr,
//     /boot and /etc (ProtectSystem=full), no /home and a private /tmp,
//     but no system call filters or device policy (ProtectClock,
//     LockPersonality and the like): every build's RUN step would inherit
//     them. Builds are its children and stop with it (the default
//     KillMode).
//   - The node runs as root with every capability: it makes network
//     namespaces, taps and nftables rules, loads kernel modules, writes
//     cgroups and starts each VM's jail, which needs CAP_SYS_ADMIN to
//     pivot into its own root. It gets no mount namespace of its own (no
//     ProtectSystem, ProtectHome or PrivateTmp): the VM network
//     namespace is kept as a bind mount in /run/netns and VMs' jails are
//     built from the agent's mounts, and both must outlive the agent in
//     the host's namespace. NoNewPrivileges is safe: nothing it runs is
//     setuid, and the jail sets it for QEMU anyway. KillMode=process:
//     stopping, restarting or upgrading the agent signals only the agent,
//     never a VM (on cgroup v1 QEMU stays in the unit's cgroup; on v2 it
//     has moved to /zeitwork-vms/vm-<id>, but its launcher is in the
//     unit's cgroup for a moment), and the restarted agent adopts the
//     running VMs (vmm/qemu Recover).
func renderUnit(role, binDir string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Written by `zeitwork setup %s`; run it again to upgrade. Settings: %s.", role, envPath(role))
	w("[Unit]")
	w("Description=%s", descriptions[role])
	w("Documentation=https://github.com/zeitwork/zeitwork/blob/main/docs/operations.md")
	w("After=network-online.target")
	w("Wants=network-online.target")
	if role == "operator" {
		w("After=postgresql.service")
	}
	w("")
	w("[Service]")
	w("Type=exec")
	w("EnvironmentFile=%s", envPath(role))
	w("ExecStart=%s/zeitwork %s %s $ZEITWORK_ARGS", binDir, role, execArgs(role))
	if role == "lb" || role == "dns" {
		// Both reread their --config on SIGHUP: `systemctl reload`.
		w("ExecReload=/bin/kill -HUP $MAINPID")
	}
	w("Restart=on-failure")
	w("RestartSec=5s")
	w("LimitNOFILE=1048576")
	w("StateDirectory=zeitwork/%s", role)
	w("StateDirectoryMode=0700")
	if role == "node" {
		w("CacheDirectory=zeitwork/kernel")
	} else {
		w("CacheDirectory=zeitwork/%s", role)
	}
	w("RuntimeDirectory=zeitwork/%s", role)
	w("NoNewPrivileges=yes")
	switch role {
	case "node":
		nodeHardening(w)
	case "operator":
		operatorHardening(w)
	default:
		serverHardening(w, role)
	}
	w("")
	w("[Install]")
	w("WantedBy=multi-user.target")
	return b.String()
}

func nodeHardening(w func(string, ...any)) {
	w("# Stopping or upgrading the agent must not stop the VMs: only the agent")
	w("# is signalled, and it adopts the running VMs when it starts again.")
	w("KillMode=process")
	w("TimeoutStopSec=30s")
	w("RuntimeDirectoryPreserve=yes")
}

func operatorHardening(w func(string, ...any)) {
	w("ProtectSystem=full")
	w("ProtectHome=yes")
	w("PrivateTmp=yes")
}

func serverHardening(w func(string, ...any), role string) {
	w("DynamicUser=yes")
	w("AmbientCapabilities=CAP_NET_BIND_SERVICE")
	w("CapabilityBoundingSet=CAP_NET_BIND_SERVICE")
	w("ProtectSystem=strict")
	w("ProtectHome=yes")
	w("PrivateTmp=yes")
	w("PrivateDevices=yes")
	w("ProtectKernelTunables=yes")
	w("ProtectKernelModules=yes")
	w("ProtectKernelLogs=yes")
	w("ProtectControlGroups=yes")
	w("ProtectClock=yes")
	w("ProtectHostname=yes")
	w("RestrictNamespaces=yes")
	w("RestrictSUIDSGID=yes")
	w("RestrictRealtime=yes")
	w("LockPersonality=yes")
	w("MemoryDenyWriteExecute=yes")
	w("RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK")
	w("SystemCallArchitectures=native")
	w("SystemCallFilter=@system-service")
	if role == "edge" {
		w("LogsDirectory=zeitwork/edge")
	}
}
