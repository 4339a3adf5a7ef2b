#!/usr/bin/env bash
# A/B of the edge's fast path (docs/benchmarks.md, Edge hot path): the same
# edgebench binary with -fast-path=true and =false, side by side, in
# interleaved rounds; prints each edge's own CPU per request (and the
# tunnel process's, for the production path) from /proc. Not a peer
# benchmark: run.sh is that.
#
# Usage: bench/edge/fastpath.sh   (ROUNDS=3 DURATION=5s CONNS=64 KIND=http|https;
#        PROF=1 writes a CPU profile of the fast direct edge to $work/fast.prof)
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
KIND=${KIND:-http}
HOST=bench.localhost

work=$(mktemp -d)
declare -A pid
cleanup() {
	for p in "${pid[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	wait
	[ -n "${PROF:-}" ] && echo "profile: $work/fast.prof (binary $work/edgebench)" || rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/edgebench" ./bench/edge/cmd/edgebench
eb=$work/edgebench
"$eb" cert -dir "$work" >/dev/null
start() { local n=$1; shift; "$@" >"$work/$n.log" 2>&1 & pid[$n]=$!; }
tlsflags=(-cert "$work/cert.pem" -key "$work/key.pem")
start backend "$eb" backend -addr 127.0.0.1:29080
start backend-h "$eb" backend -addr 127.0.0.1:29086 -tunnel-header
start tunnel "$eb" tunnel -addr 127.0.0.1:29081 -to 127.0.0.1:29080
start direct-fast "$eb" edge -addr 127.0.0.1:29087 -node 127.0.0.1:29086 -tls-addr 127.0.0.1:29088 "${tlsflags[@]}" \
	${PROF:+-cpuprofile "$work/fast.prof"}
start direct-old "$eb" edge -addr 127.0.0.1:29187 -node 127.0.0.1:29086 -tls-addr 127.0.0.1:29188 "${tlsflags[@]}" -fast-path=false
start zw-fast "$eb" edge -addr 127.0.0.1:29082 -node 127.0.0.1:29081
start zw-old "$eb" edge -addr 127.0.0.1:29182 -node 127.0.0.1:29081 -fast-path=false

scheme=http targets=(direct-fast:29087 direct-old:29187 zw-fast:29082 zw-old:29182)
if [ "$KIND" = https ]; then
	scheme=https targets=(direct-fast:29088 direct-old:29188)
fi
for t in "${targets[@]}"; do
	IFS=: read -r n p <<<"$t"
	deadline=$((SECONDS + 10))
	until curl -skf -H "Host: $HOST" "$scheme://127.0.0.1:$p/" >/dev/null; do
		[ $SECONDS -lt $deadline ] || { echo "$n did not come up: $(cat "$work/$n.log")" >&2; exit 1; }
		sleep 0.1
	done
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	for t in "${targets[@]}"; do
		IFS=: read -r n p <<<"$t"
		wrk -t2 -c"$CONNS" -d2s -H "Host: $HOST" "$scheme://127.0.0.1:$p/" >/dev/null # warm-up
		c0=$(ticks "${pid[$n]}") t0=$(ticks "${pid[tunnel]}")
		out=$(wrk -t2 -c"$CONNS" -d"$DURATION" -H "Host: $HOST" "$scheme://127.0.0.1:$p/")
		c1=$(ticks "${pid[$n]}") t1=$(ticks "${pid[tunnel]}")
		awk -v r="$r" -v n="$n" -v c=$((c1 - c0)) -v tc=$((t1 - t0)) -v hz="$hz" \
			-v req="$(awk '/requests in/{print $1}' <<<"$out")" -v rps="$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
			-v l="$(cut -d' ' -f1 /proc/loadavg)" \
			'BEGIN{printf "round %d %-12s %9.0f req/s  edge %5.1f us/req  tunnel %5.1f us/req  load %s\n", r, n, rps, c*1e6/hz/req, tc*1e6/hz/req, l}'
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
