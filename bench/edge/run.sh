#!/usr/bin/env bash
# Edge proxy benchmark: the Zeitwork edge against nginx and Caddy, all
# proxying to the same tiny backend on loopback, measured with wrk in one
# run. Writes bench/results/edge-<UTC date>.txt and regenerates the
# "## Edge proxy" section of docs/benchmarks.md.
#
# Usage: bench/edge/run.sh   (ROUNDS=3 DURATION=10s CONNS=64 by default)
#
# Targets, each wrk -t2 -c$CONNS -d$DURATION --latency, ROUNDS times in
# turn (interleaved, so that a burst of other load hits all alike), the
# round with the median requests/s reported:
#   backend      the backend itself: the ceiling
#   nginx        Debian's nginx, bench/edge/nginx.conf
#   caddy        Debian's Caddy, bench/edge/Caddyfile
#   zeitwork     edge -> tunnel.Serve (separate process) -> backend: production path
#   zw-direct    edge -> backend, no tunnel hop: like for like with nginx/Caddy
#   go-stock     httputil.ReverseProxy over the same tunnel, for reference
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
HOST=bench.localhost # the edge routes by Host; nginx and Caddy ignore it

for tool in go wrk nginx caddy curl; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
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

wait_http() { # name port: poll until the proxy answers with the backend's body
	local name=$1 port=$2 deadline=$((SECONDS + 10))
	until [ "$(curl -fsS -m 1 -H "Host: $HOST" "http://127.0.0.1:$port/" 2>/dev/null)" = "Hello, world!" ]; do
		if [ $SECONDS -ge $deadline ]; then
			echo "run.sh: $name on port $port did not answer; its log:" >&2
			cat "$work/$name.log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}

go build -o "$work/edgebench" ./bench/edge/cmd/edgebench
eb=$work/edgebench
mkdir -p "$work/nginx" "$work/caddy"

start backend "$eb" backend -addr 127.0.0.1:39080
start backend-h "$eb" backend -addr 127.0.0.1:39086 -tunnel-header
start tunnel "$eb" tunnel -addr 127.0.0.1:39081 -to 127.0.0.1:39080
start zeitwork "$eb" edge -addr 127.0.0.1:39082 -node 127.0.0.1:39081
start zw-direct "$eb" edge -addr 127.0.0.1:39087 -node 127.0.0.1:39086
start go-stock "$eb" stock -addr 127.0.0.1:39085 -node 127.0.0.1:39081
start nginx nginx -p "$work/nginx/" -c "$PWD/bench/edge/nginx.conf" -e "$work/nginx/error.log"
XDG_CONFIG_HOME=$work/caddy XDG_DATA_HOME=$work/caddy \
	start caddy caddy run --config bench/edge/Caddyfile --adapter caddyfile

targets=(backend:39080 nginx:39083 caddy:39084 zeitwork:39082 zw-direct:39087 go-stock:39085)
for t in "${targets[@]}"; do wait_http "${t%%:*}" "${t##*:}"; done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	for t in "${targets[@]}"; do
		name=${t%%:*} port=${t##*:}
		wrk -t2 -c"$CONNS" -d2s -H "Host: $HOST" "http://127.0.0.1:$port/" >/dev/null # warm-up
		wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "Host: $HOST" "http://127.0.0.1:$port/" >"$work/$name.$round.wrk"
		echo "round $round: $name $(awk '/Requests\/sec/{print $2}' "$work/$name.$round.wrk") req/s" | tee -a "$work/rounds" >&2
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ms converts a wrk latency (690.00us, 4.52ms, 1.02s) to milliseconds.
ms() { awk -v v="$1" 'BEGIN{u=v; sub(/[0-9.]+/,"",u); n=v+0; if(u=="us")n/=1000; else if(u=="s")n*=1000; else if(u=="m")n*=60000; printf "%.2f", n}'; }

# pick prints the wrk file of the round with the median requests/s.
pick() {
	for r in $(seq "$ROUNDS"); do
		echo "$(awk '/Requests\/sec/{print $2}' "$work/$1.$r.wrk") $work/$1.$r.wrk"
	done | sort -n | awk '{a[NR]=$2} END{print a[int((NR+1)/2)]}'
}

declare -A rps p50 p99 errs
for t in "${targets[@]}"; do
	name=${t%%:*}
	f=$(pick "$name")
	cp "$f" "$work/$name.median.wrk"
	rps[$name]=$(awk '/Requests\/sec/{printf "%.0f", $2}' "$f")
	p50[$name]=$(ms "$(awk '$1=="50%"{print $2}' "$f")")
	p99[$name]=$(ms "$(awk '$1=="99%"{print $2}' "$f")")
	errs[$name]=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' "$f")
done
# ratio prints the median over rounds of target $1's req/s divided by
# target $2's in the same round: rounds run minutes apart on a shared
# machine, so like-for-like pairs are steadier than a ratio of medians.
ratio() {
	for r in $(seq "$ROUNDS"); do
		awk -v a="$(awk '/Requests\/sec/{print $2}' "$work/$1.$r.wrk")" \
			-v b="$(awk '/Requests\/sec/{print $2}' "$work/$2.$r.wrk")" 'BEGIN{printf "%.4f\n", a/b}'
	done | sort -n | awk '{a[NR]=$1} END{printf "%.2f", a[int((NR+1)/2)]}'
}

date_utc=$(date -u +%Y-%m-%d)
cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
cores=$(nproc)
table() {
	echo "| Proxy | req/s | p50 ms | p99 ms | vs nginx | vs Caddy |"
	echo "|---|---:|---:|---:|---:|---:|"
	for t in "${targets[@]}"; do
		n=${t%%:*}
		echo "| $n | ${rps[$n]} | ${p50[$n]} | ${p99[$n]} | $(ratio "$n" nginx) | $(ratio "$n" caddy) |"
	done
}

mkdir -p bench/results
out=bench/results/edge-$date_utc.txt
{
	echo "Edge proxy benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "Machine: $cpu, $cores cores, $(uname -sr); load average before $load_before, after $load_after"
	echo "Software: $(nginx -v 2>&1 | sed 's/nginx version: //'), Caddy $(caddy version | cut -d' ' -f1), $(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
	echo "Load: wrk -t2 -c$CONNS -d$DURATION --latency, Host: $HOST, 13-byte body, keep-alive; median of $ROUNDS interleaved rounds (ratios: median of per-round ratios)"
	echo
	table
	echo
	for t in "${targets[@]}"; do
		n=${t%%:*}
		[ -n "${errs[$n]}" ] && echo "$n: ${errs[$n]}"
	done
	echo "Every round (other work on the machine makes single rounds vary):"
	cat "$work/rounds"
	echo
	for t in "${targets[@]}"; do
		n=${t%%:*}
		echo "== $n (median round) =="
		cat "$work/$n.median.wrk"
	done
} >"$out"

section=$work/section.md
{
	echo "## Edge proxy"
	echo
	echo "Requests per second and latency of the edge against nginx and Caddy, each proxying"
	echo "to the same tiny Go backend (13-byte body, keep-alive) on loopback, measured in one"
	echo "run by \`bench/edge/run.sh\` (\`make bench\`) with \`wrk -t2 -c$CONNS -d$DURATION --latency\`;"
	echo "the round with the median req/s of $ROUNDS interleaved rounds; the ratios are the median of"
	echo "the per-round ratios. Everything, wrk included, shares the machine:"
	echo "$cpu, $cores cores (load average $load_before before the run). Raw output:"
	echo "\`$out\`."
	echo
	table
	echo
	echo "- \`zeitwork\` is the production path: edge -> node agent's tunnel (\`tunnel.Serve\`,"
	echo "  a separate process, as on a node) -> app. \`zw-direct\` leaves the tunnel hop out"
	echo "  (the backend reads the tunnel header itself), like for like with nginx and Caddy."
	echo "- \`go-stock\` is \`httputil.ReverseProxy\` with a tuned \`http.Transport\` over the same"
	echo "  tunnel: the edge's own proxy loop (\`internal/edge\`) exists because of this row."
	echo "- nginx: \`bench/edge/nginx.conf\` (one worker per core, upstream keepalive, HTTP/1.1,"
	echo "  access log off). Caddy: \`bench/edge/Caddyfile\` (\`reverse_proxy\` defaults, logs off)."
} >"$section"

doc=docs/benchmarks.md
mkdir -p docs
[ -f "$doc" ] || printf '# Benchmarks\n\n' >"$doc"
if grep -q '^## Edge proxy$' "$doc"; then
	awk -v sec="$section" '
		/^## Edge proxy$/ { while ((getline l < sec) > 0) print l; skip = 1; next }
		skip && /^## / { skip = 0; print "" }
		!skip { print }
	' "$doc" >"$work/doc.md"
	cp "$work/doc.md" "$doc"
else
	{ echo; cat "$section"; } >>"$doc"
fi
echo "run.sh: wrote $out and updated $doc" >&2
table >&2
