#!/usr/bin/env bash
# Load balancer benchmark: `zeitwork lb` against HAProxy in TCP mode, both
# relaying to the same nginx backend on loopback with a PROXY v2 header,
# measured with wrk through each in one run. Writes
# bench/results/lb-<UTC date>.txt and regenerates the "## Load balancer"
# section of docs/benchmarks.md.
#
# Usage: bench/lb/run.sh   (ROUNDS=3 DURATION=10s CONNS=64 by default;
# RESULT_SUFFIX=b writes bench/results/lb-<date>b.txt, for a second run in a day)
#
# Targets, each wrk -t2 -c$CONNS -d$DURATION --latency, ROUNDS times in
# turn (interleaved, so that a burst of other load hits all alike), the
# round with the median requests/s reported, in two scenarios:
#   keepalive   wrk's default: 64 long connections, requests back to back
#   close       Connection: close: a new TCP connection (and edge
#               connection and PROXY header) for every request
# and three targets:
#   direct      wrk -> nginx: the ceiling, for the added latency
#   haproxy     wrk -> HAProxy (bench/lb/haproxy.cfg) -> nginx
#   zeitwork    wrk -> zeitwork lb (bench/lb/lb.json) -> nginx
#   zeitwork-1p the same with GOMAXPROCS=1: on two cores shared with wrk
#               and nginx, Go's scheduler spinning for work on a second
#               P costs more than it brings
# Besides wrk's figures, the proxy's own CPU time per request (from
# /proc/PID/stat around each run): steadier than req/s on a busy machine.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}

for tool in go wrk nginx haproxy curl; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

start() { # name cmd...
	local name=$1; shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
}

wait_http() { # name port: poll until the target answers with the backend's body
	local name=$1 port=$2 deadline=$((SECONDS + 10))
	until [ "$(curl -fsS -m 1 "http://127.0.0.1:$port/" 2>/dev/null)" = "Hello, world!" ]; do
		if [ $SECONDS -ge $deadline ]; then
			echo "run.sh: $name on port $port did not answer; its log:" >&2
			cat "$work/$name.log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}

CGO_ENABLED=0 go build -trimpath -o "$work/zeitwork" ./cmd/zeitwork
mkdir -p "$work/nginx"
start nginx nginx -p "$work/nginx/" -c "$PWD/bench/lb/nginx.conf" -e "$work/nginx/error.log"
declare -A proc
NBTHREAD=$(nproc) start haproxy haproxy -db -f bench/lb/haproxy.cfg
proc[haproxy]=$!
start zeitwork "$work/zeitwork" lb --config bench/lb/lb.json
proc[zeitwork]=$!
sed 's/28483/28484/' bench/lb/lb.json >"$work/lb-1p.json"
GOMAXPROCS=1 start zeitwork-1p "$work/zeitwork" lb --config "$work/lb-1p.json"
proc[zeitwork-1p]=$!

targets=(direct:28480 haproxy:28482 zeitwork:28483 zeitwork-1p:28484)
scenarios=(keepalive close)
for t in "${targets[@]}"; do wait_http "${t%%:*}" "${t##*:}"; done

# ticks prints the CPU time (user + system, in clock ticks) that the
# process of target $1 has used; 0 for direct (no proxy).
ticks() {
	if [ -n "${proc[$1]:-}" ]; then awk '{print $14 + $15}' "/proc/${proc[$1]}/stat"; else echo 0; fi
}

# wrk_args prints wrk's extra arguments for scenario $1, one a line. wrk
# takes a header only as "Name: value" (with the space) and silently drops
# "Name:value": the runs before 2026-11-29b sent no Connection header, and
# their "close" rows measured kept-alive connections.
wrk_args() {
	if [ "$1" = close ]; then printf '%s\n' -H "Connection: close"; fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	for s in "${scenarios[@]}"; do
		for t in "${targets[@]}"; do
			name=${t%%:*} port=${t##*:}
			mapfile -t args < <(wrk_args "$s")
			wrk -t2 -c"$CONNS" -d2s "${args[@]}" "http://127.0.0.1:$port/" >/dev/null # warm-up
			before=$(ticks "$name")
			wrk -t2 -c"$CONNS" -d"$DURATION" --latency "${args[@]}" "http://127.0.0.1:$port/" >"$work/$s.$name.$round.wrk"
			echo "ProxyCPUTicks $(($(ticks "$name") - before))" >>"$work/$s.$name.$round.wrk"
			echo "round $round: $s $name $(awk '/Requests\/sec/{print $2}' "$work/$s.$name.$round.wrk") req/s" | tee -a "$work/rounds" >&2
		done
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

. bench/lb/report.sh
