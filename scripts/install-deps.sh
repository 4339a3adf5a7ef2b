#!/usr/bin/env bash
# Installs what Zeitwork needs on Debian or Ubuntu, skipping what is there:
# QEMU (microVMs), PostgreSQL (state), nftables and iproute2 (VM network),
# e2fsprogs (root disks), kmod, buildah and runc (Dockerfile builds;
# busybox-static for their tests' base images), pebble (the ACME test server
# of the edge's TLS tests), systemd (systemd-analyze, for setup's tests),
# and for the benchmarks nginx,
# Caddy, wrk, curl and HAProxy.
# The guest kernel is fetched later by `zeitwork up` with apt-get download.
set -euo pipefail

packages=(qemu-system-x86 postgresql nftables iproute2 e2fsprogs kmod ca-certificates util-linux buildah runc busybox-static)
if [[ "${ZEITWORK_BENCH_DEPS:-1}" == 1 ]]; then
	packages+=(nginx caddy wrk curl)
	packages+=(haproxy) # bench/lb: HAProxy in TCP mode beside `zeitwork lb`
fi
# git: the projects' git remotes (git http-backend, archives of pushes).
packages+=(git)
# pebble: the ACME test server (and pebble-challtestsrv) the edge's TLS
# tests issue certificates from.
packages+=(pebble)
# systemd: systemd-analyze, which zeitwork setup's tests verify its units with.
packages+=(systemd)

if [[ $(id -u) != 0 ]]; then
	echo "install-deps: run as root (sudo make up)" >&2
	exit 1
fi
if ! command -v go >/dev/null; then
	echo "install-deps: Go 1.26 or newer is needed to build Zeitwork: https://go.dev/dl/" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# apt-get download of the guest kernel needs package lists.
if [[ ${#missing[@]} -gt 0 || -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]]; then
	echo "==> apt-get update"
	apt-get update -qq
fi
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "==> Installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts the packaged services; Zeitwork runs its own.
	for svc in postgresql nginx caddy; do
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	done
	systemctl disable --now haproxy >/dev/null 2>&1 || true
fi
echo "==> Dependencies present"
