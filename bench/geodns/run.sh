#!/usr/bin/env bash
# GeoDNS benchmark: zeitwork dns against PowerDNS's geoip backend
# (Debian's pdns-server and pdns-backend-geoip), both reading the same
# MaxMind-format database (bench/geodns/mkdb), measured with dnsperf in one
# run. Writes bench/results/geodns-<UTC date>.txt and regenerates the
# "## GeoDNS" section of docs/benchmarks.md.
#
# Usage: bench/geodns/run.sh   (ROUNDS=3 DURATION=10 CLIENTS=4 RATE=2000)
#
# Two zeitwork dns servers run: "zeitwork" with response rate limiting
# off, "zw-rrl" with it on at a rate above the benchmark's (every query
# goes through the limiter, none is limited): RRL's cost per query.
#
# Each query is "web.apps.bench A" with an EDNS Client Subnet in Frankfurt,
# so that every answer goes through the geo lookup (PowerDNS answers from
# its packet cache for repeated subnets, as it does in production; ours
# has no cache). Per round and server, interleaved:
#   throughput  dnsperf -c$CLIENTS -q200 -l$DURATION: queries/s
#   latency     dnsperf -Q$RATE -l5 -v: p99 of every query's latency at a
#               fixed rate (dnsperf 2.10 gives no percentiles otherwise)
# The round with the median queries/s is reported.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
RATE=${RATE:-2000}
ZW_PORT=${ZW_PORT:-15353}
PDNS_PORT=${PDNS_PORT:-15354}
RRL_PORT=${RRL_PORT:-15355}
ECS=8:00011800c63364 # family 1, /24, scope 0, 198.51.100.0 (Frankfurt in the database)

# The benchmark installs what it needs itself; tests do not need these.
install=()
command -v dnsperf >/dev/null || install+=(dnsperf)
command -v pdns_server >/dev/null || install+=(pdns-server)
ls /usr/lib/*/pdns/libgeoipbackend.so >/dev/null 2>&1 || install+=(pdns-backend-geoip)
if [ ${#install[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${install[@]}" >/dev/null
	# Debian starts pdns on port 53; the benchmark runs its own.
	if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
		systemctl disable --now pdns >/dev/null 2>&1 || true
	fi
fi
command -v go >/dev/null || { echo "run.sh: go is not installed" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/zeitwork" ./cmd/zeitwork
go build -o "$work/query" ./bench/geodns/query
go run ./bench/geodns/mkdb -dir "$work" -health-port "$ZW_PORT"
cat >"$work/pdns.conf" <<CONF
launch=geoip
geoip-database-files=mmdb:$work/geo.mmdb
geoip-zones-file=$work/zones.yaml
local-address=127.0.0.1
local-port=$PDNS_PORT
socket-dir=$work
daemon=no
guardian=no
disable-syslog=yes
edns-subnet-processing=yes
loglevel=3
CONF
for i in $(seq 1000); do echo "web.apps.bench A"; done >"$work/queries"

"$work/zeitwork" dns --config "$work/dns.json" --listen ":$ZW_PORT" >"$work/zeitwork.log" 2>&1 &
pids+=($!)
"$work/zeitwork" dns --config "$work/dns-rrl.json" --listen ":$RRL_PORT" >"$work/zw-rrl.log" 2>&1 &
pids+=($!)
pdns_server --config-dir="$work" >"$work/pdns.log" 2>&1 &
pids+=($!)

wait_dns() { # name port: poll until the server answers Frankfurt with eu's load balancers
	local name=$1 port=$2 deadline=$((SECONDS + 15))
	until "$work/query" -s "127.0.0.1:$port" -ecs 198.51.100.0/24 2>/dev/null | grep -q '127.0.1.1$'; do
		if [ $SECONDS -ge $deadline ]; then
			echo "run.sh: $name on port $port did not answer; its log:" >&2
			cat "$work/$name.log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}
wait_dns zeitwork "$ZW_PORT"
wait_dns zw-rrl "$RRL_PORT"
wait_dns pdns "$PDNS_PORT"
declare -A port=([zeitwork]=$ZW_PORT [zw-rrl]=$RRL_PORT [pdns]=$PDNS_PORT)
targets=(zeitwork zw-rrl pdns)

for round in $(seq "$ROUNDS"); do
	for name in "${targets[@]}"; do
		dnsperf -s 127.0.0.1 -p "${port[$name]}" -d "$work/queries" -l "$DURATION" -c "$CLIENTS" -q 200 -E "$ECS" \
			>"$work/$name.$round.perf" 2>&1
		dnsperf -s 127.0.0.1 -p "${port[$name]}" -d "$work/queries" -l 5 -Q "$RATE" -v -E "$ECS" 2>/dev/null |
			awk '/^> /{print $NF}' | sort -n | awk '{a[NR]=$1} END{printf "%.3f\n", a[int(NR*0.99)]*1000}' >"$work/$name.$round.p99"
		echo "round $round: $name $(awk '/Queries per second/{printf "%.0f", $4}' "$work/$name.$round.perf") q/s, p99 $(cat "$work/$name.$round.p99") ms" >&2
	done
done

qps() { awk '/Queries per second/{printf "%.0f", $4}' "$work/$1.$2.perf"; }
median_round() { # name: the round with the median queries/s
	for r in $(seq "$ROUNDS"); do echo "$(qps "$1" "$r") $r"; done | sort -n | awk '{a[NR]=$2} END{print a[int((NR+1)/2)]}'
}
declare -A q p lost
for name in "${targets[@]}"; do
	r=$(median_round "$name")
	q[$name]=$(qps "$name" "$r")
	p[$name]=$(cat "$work/$name.$r.p99")
	lost[$name]=$(awk '/Queries lost/{print $3, $4}' "$work/$name.$r.perf")
done
ratio=$(awk -v a="${q[zeitwork]}" -v b="${q[pdns]}" 'BEGIN{printf "%.2f", a/b}')
rrl_ratio=$(awk -v a="${q[zw-rrl]}" -v b="${q[pdns]}" 'BEGIN{printf "%.2f", a/b}')
# RRL on / off per round (the two run back to back, under the same
# load), the median of the rounds: steadier than a ratio of medians on
# a shared machine.
rrl_cost=$(for r in $(seq "$ROUNDS"); do awk -v a="$(qps zw-rrl "$r")" -v b="$(qps zeitwork "$r")" 'BEGIN{printf "%.4f\n", a/b}'; done |
	sort -n | awk '{a[NR]=$1} END{printf "%.2f", a[int((NR+1)/2)]}')
cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
date=$(date -u +%F)
load=$(cut -d' ' -f1-3 /proc/loadavg)
out=bench/results/geodns-$date.txt
{
	echo "GeoDNS benchmark, $(date -u '+%F %H:%M UTC'), $(nproc) cores ($cpu; no VMs in this benchmark), $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf " $2}'), $(pdns_server --version 2>&1 | grep -o 'PowerDNS Authoritative Server [0-9.]*')"
	echo "load average at the end (other work on the machine): $load"
	echo "query: web.apps.bench A, ECS 198.51.100.0/24; throughput dnsperf -c$CLIENTS -q200 -l$DURATION; p99 at -Q$RATE; $ROUNDS interleaved rounds, median reported"
	echo
	printf "%-10s %12s %12s  %s\n" server "queries/s" "p99 ms" "lost"
	for name in "${targets[@]}"; do printf "%-10s %12s %12s  %s\n" "$name" "${q[$name]}" "${p[$name]}" "${lost[$name]}"; done
	echo
	echo "zeitwork / pdns queries/s: ${ratio}x (target: at least 1.0x); with RRL on: ${rrl_ratio}x"
	echo "zeitwork with RRL on / off queries/s, median of the rounds' ratios: ${rrl_cost}x"
	echo
	echo "rounds:"
	for r in $(seq "$ROUNDS"); do for name in "${targets[@]}"; do echo "  round $r $name $(qps "$name" "$r") q/s p99 $(cat "$work/$name.$r.p99") ms"; done; done
} | tee "$out"

section=$(cat <<DOC
## GeoDNS

Queries per second and p99 latency of \`zeitwork dns\` against PowerDNS
Authoritative with its geoip backend (Debian \`pdns-server\`, \`pdns-backend-geoip\`),
both reading the same MaxMind-format database and answering \`web.apps.bench A\`
for a client subnet (ECS) in Frankfurt with that region's two load balancers; run by
\`bench/geodns/run.sh\` (\`make bench-geodns\`) with dnsperf on loopback, $ROUNDS
interleaved rounds, the median round reported. Machine: $(nproc) cores ($cpu; no VMs
involved, so TCG or KVM does not matter), shared
with the load generator and whatever else ran (load average $load at the end; p99 is
sensitive to it, the interleaved queries/s ratio much less). Raw output: \`$out\`.

| server | queries/s | p99 at $RATE q/s (ms) |
| --- | ---: | ---: |
| zeitwork dns, RRL off | ${q[zeitwork]} | ${p[zeitwork]} |
| zeitwork dns, RRL on (rate above the load: every query accounted, none limited) | ${q[zw-rrl]} | ${p[zw-rrl]} |
| PowerDNS 4.7 geoip | ${q[pdns]} | ${p[pdns]} |

zeitwork / PowerDNS: **${ratio}x** queries/s (target: at least 1.0x); with response
rate limiting on, **${rrl_ratio}x** (RRL on / off, the median of each round's ratio: ${rrl_cost}x; RRL cannot make a
server faster, so on this shared machine a ratio some 10% either side of 1.0 is noise: the
limiter's own cost, \`go test -bench BenchmarkRRL ./internal/geodns/\`, measured 0.2 µs a
query for one network and 0.5 µs for a new spoofed network each query, against 2.8 µs for
\`BenchmarkAnswer\` and the UDP round trip on top). PowerDNS runs its
defaults (packet cache on, 3 distributor threads); ours locates every query (the
decoded GeoIP records are cached, the answers are not).
DOC
)
awk -v s="$section" '
	/^## GeoDNS$/ { print s; skip = 1; done = 1; next }
	skip && /^## / { skip = 0 }
	!skip { print }
	END { if (!done) print "\n" s }
' docs/benchmarks.md >"$work/benchmarks.md"
cp "$work/benchmarks.md" docs/benchmarks.md
