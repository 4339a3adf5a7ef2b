#!/usr/bin/env bash
# Lists what Zeitwork creates or runs that is still on this host, and fails
# (exit 1) if there is anything: network namespaces named zw* or zeitwork* (also those
# whose mount is covered under /run/netns, which `ip netns` cannot show),
# tap devices zt* on the host or in any network namespace, host veths
# zwh-*, the test bed's bridges zwtb* and veths zb* on the host, nftables
# tables zeitwork*, VM and build cgroups zeitwork-*, build directories
# /tmp/zeitwork-build-* and mounts below them, and
# qemu-system-x86_64, postgres, buildah or runc processes. Run it as root when nothing of Zeitwork should be running:
# CI runs it before and after the tests (.ci/run). It changes nothing.
set -uo pipefail

if [[ $(id -u) != 0 ]]; then
	echo "check-leftovers: run as root (it looks into every network namespace)" >&2
	exit 2
fi

found=()

# Namespaces: the files under /run/netns, and every nsfs mount there, since
# mountinfo also lists mounts that a later bind of /run/netns covered.
declare -A seen_ns=()
for f in /run/netns/zw* /run/netns/zeitwork*; do
	[[ -e $f ]] || continue
	seen_ns[$f]=1
	found+=("network namespace $f")
done
while read -r mnt; do
	[[ -n ${seen_ns[$mnt]:-} ]] && continue
	seen_ns[$mnt]=1
	found+=("network namespace mount $mnt (covered: unmount /run/netns to reach it)")
done < <(awk '$5 ~ "^/run/netns/(zw|zeitwork)" { print $5 }' /proc/self/mountinfo | sort -u)

# links NETNS_FILE: the link names in a namespace ("-" for the host's).
links() {
	if [[ $1 == - ]]; then
		ip -o link show 2>/dev/null
	else
		nsenter --net="$1" ip -o link show 2>/dev/null
	fi | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'
}

# Every network namespace: the host's, the named ones, and the ones only a
# process holds (each once, by inode).
declare -A seen_inode=()
namespaces=(-)
seen_inode[$(stat -L -c %i /proc/self/ns/net)]=1
for f in /run/netns/* /proc/[0-9]*/ns/net; do
	inode=$(stat -L -c %i "$f" 2>/dev/null) || continue
	[[ -n ${seen_inode[$inode]:-} ]] && continue
	seen_inode[$inode]=1
	namespaces+=("$f")
done
for ns in "${namespaces[@]}"; do
	where=${ns/#-/the host}
	while read -r link; do
		case $link in
		zt*) found+=("tap $link in $where") ;;
		zwh-*) [[ $ns == - ]] && found+=("veth $link on the host") ;;
		zwtb*) [[ $ns == - ]] && found+=("test bed bridge $link on the host") ;;
		zb[0-9]*) [[ $ns == - ]] && found+=("test bed veth $link on the host") ;;
		esac
	done < <(links "$ns")
done

while read -r family table; do
	found+=("nftables table $family $table")
done < <(nft list tables 2>/dev/null | awk '$1 == "table" && $3 ~ /^zeitwork/ { print $2, $3 }')

while read -r dir; do
	found+=("cgroup $dir")
done < <(find /sys/fs/cgroup -mindepth 1 -type d -path '*/zeitwork-*' 2>/dev/null)

# Builds: their temporary directories (auth file, registries.conf, the RUN
# steps' bundles) and anything still mounted there.
for d in /tmp/zeitwork-build-*; do
	[[ -e $d ]] && found+=("build directory $d")
done
while read -r mnt; do
	found+=("build mount $mnt")
done < <(awk '$5 ~ "/zeitwork-build-" { print $5 }' /proc/self/mountinfo)

# -x matches the process name exactly: -f would match this script's own
# shell, or any command line that mentions the name. The kernel keeps 15
# characters of a name, so qemu-system-x86_64 runs as qemu-system-x86.
# Zombies are left out: they hold nothing, and only their parent (perhaps
# not ours) can reap them.
for name in qemu-system-x86 postgres buildah runc; do
	while read -r pid args; do
		[[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]] && continue
		found+=("process $pid: $args")
	done < <(pgrep -a -x "$name")
done

if [[ ${#found[@]} -gt 0 ]]; then
	echo "check-leftovers: ${#found[@]} Zeitwork leftovers on this host:" >&2
	printf '  %s\n' "${found[@]}" >&2
	exit 1
fi
echo "check-leftovers: nothing left"
