#!/usr/bin/env bash
# Removes what an interrupted Zeitwork run (a killed test binary, a crashed
# `zeitwork up`) can leave on a host: QEMU processes, PostgreSQL clusters
# under /tmp or a zeitwork state directory, network namespaces zw* and
# zeitwork* (also ones covered under /run/netns), taps zt*, host veths
# zwh-*, the test bed's bridges zwtb* and veths zb*, nftables tables
# zeitwork*, VM and build cgroups zeitwork-*, and
# builds (buildah and its RUN steps, /tmp/zeitwork-build-*). It prints what
# it removes.
#
# Meant for CI and for a developer's machine after an interrupted test run;
# a node in service never needs it (the agent adopts its VMs on restart).
# scripts/check-leftovers.sh says afterwards whether anything remains.
set -uo pipefail

if [[ $(id -u) != 0 ]]; then
	echo "clean-leftovers: run as root" >&2
	exit 2
fi

say() { echo "clean-leftovers: $*"; }

# Processes first: they hold namespaces, taps and cgroups.
if pids=$(pgrep -x qemu-system-x86); then
	say "killing QEMU processes $(echo $pids)"
	pkill -KILL -x qemu-system-x86
fi
# Only postmasters of our own clusters: test clusters live under /tmp,
# `zeitwork up`'s under its state directory.
for pid in $(pgrep -x postgres); do
	[[ $(ps -o comm= -p "$(ps -o ppid= -p "$pid" | tr -d ' ')" 2>/dev/null) == postgres ]] && continue
	args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
	case $args in
	*" -D /tmp/"* | *zeitwork*)
		say "stopping PostgreSQL $pid ($args)"
		kill -QUIT "$pid"
		;;
	esac
done
# Wait for them to exit: a check right after would still see them.
for _ in $(seq 50); do
	pgrep -x qemu-system-x86 -r R,S,D,T >/dev/null || pgrep -x postgres -r R,S,D,T >/dev/null || break
	sleep 0.1
done

# Builds: buildah runs with TMPDIR in its /tmp/zeitwork-build-* directory;
# its RUN steps die with their cgroups below.
for pid in $(pgrep -x buildah); do
	if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q '^TMPDIR=.*/zeitwork-build-'; then
		say "killing buildah $pid"
		kill -KILL "$pid"
	fi
done
while read -r cg; do
	for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do
		say "killing build process $pid"
		kill -KILL "$pid"
	done
done < <(find /sys/fs/cgroup -mindepth 1 -type d -path '*/zeitwork-build*' 2>/dev/null)
while read -r mnt; do
	say "unmounting $mnt"
	umount -l "$mnt"
done < <(awk '$5 ~ "/zeitwork-build-" { print $5 }' /proc/self/mountinfo | sort -r)
for d in /tmp/zeitwork-build-*; do
	[[ -e $d ]] || continue
	say "removing build directory $d"
	rm -rf "$d"
done

# A namespace mount that a later bind of /run/netns covered can only be
# reached once that bind is gone.
if awk '$5 ~ "^/run/netns/(zw|zeitwork)" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
	while mountpoint -q /run/netns; do
		say "unmounting /run/netns to reach covered namespaces"
		umount -l /run/netns || break
	done
fi
for _ in 1 2 3; do
	mnts=$(awk '$5 ~ "^/run/netns/(zw|zeitwork)" { print $5 }' /proc/self/mountinfo | sort -u)
	[[ -z $mnts ]] && break
	for m in $mnts; do umount -l "$m" 2>/dev/null; done
done
for f in /run/netns/zw* /run/netns/zeitwork*; do
	[[ -e $f ]] || continue
	say "removing network namespace $f"
	umount -l "$f" 2>/dev/null
	rm -f "$f"
done

while read -r link; do
	say "deleting link $link"
	ip link del "$link"
done < <(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -E '^(zt|zwh-|zwtb|zb[0-9])')

while read -r family table; do
	say "deleting nftables table $family $table"
	nft delete table "$family" "$table"
done < <(nft list tables 2>/dev/null | awk '$1 == "table" && $3 ~ /^zeitwork/ { print $2, $3 }')

# Deepest first: a cgroup directory can only go once its children have.
while read -r dir; do
	say "removing cgroup $dir"
	rmdir "$dir"
done < <(find /sys/fs/cgroup -mindepth 1 -type d -path '*/zeitwork-*' 2>/dev/null | awk '{ print length($0), $0 }' | sort -rn | cut -d' ' -f2-)
exit 0
