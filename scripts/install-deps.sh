#!/usr/bin/env bash
# Installs what Zeitwork needs on Debian or Ubuntu, skipping what is there:
# QEMU (microVMs), PostgreSQL (state), nftables and iproute2 (VM network),
# e2fsprogs (root disks), kmod, buildah and runc (Dockerfile builds;
# busybox-static for their tests' base images), pebble (the ACME test server
# of the edge's TLS tests), SeaweedFS's weed (the S3 store of the
# registry's S3 storage tests; built from the Go module proxy), systemd
# (systemd-analyze, for setup's tests), Node.js and npm (the dashboard),
# Chromium (its browser tests), and for the benchmarks nginx,
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
# nodejs and npm: make web generates the dashboard (Node 18 of Debian 12 or
# newer); a Node.js from elsewhere (NodeSource) brings its own npm, which
# Debian's npm package would conflict with.
packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
# chromium: the browser the dashboard's browser tests drive (chromedp).
packages+=(chromium)

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

# SeaweedFS (weed): the real S3-compatible store the registry's S3 storage
# tests run against; only with ZEITWORK_TEST_DEPS=1 (`make test`), as it takes
# minutes to build and nothing but the tests needs it. Not in Debian, so
# built from the Go module proxy at a pinned version. Its go.mod has replace directives, which `go install`
# refuses: build inside a copy of the module instead.
weed_version=v0.0.0-20261109003541-7506e5f91cd6
weed_stamp=/usr/local/share/zeitwork/weed.version
if [[ "${ZEITWORK_TEST_DEPS:-0}" == 1 ]] &&
	[[ ! -x /usr/local/bin/weed || "$(cat "$weed_stamp" 2>/dev/null)" != "$weed_version" ]]; then
	echo "==> Building SeaweedFS $weed_version (weed; takes minutes)"
	weed_dir=$(cd / && go mod download -json "github.com/seaweedfs/seaweedfs@$weed_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	weed_tmp=$(mktemp -d)
	trap 'rm -rf "$weed_tmp"' EXIT
	cp -r "$weed_dir" "$weed_tmp/src"
	chmod -R u+w "$weed_tmp/src"
	(cd "$weed_tmp/src" && go build -o /usr/local/bin/weed ./weed)
	mkdir -p "$(dirname "$weed_stamp")"
	echo "$weed_version" >"$weed_stamp"
fi
echo "==> Dependencies present"
