#!/usr/bin/env bash
# Edge proxy benchmark: the Zeitwork edge against nginx and Caddy, all
# proxying to the same tiny backend on loopback, measured with wrk in one
# run. Writes bench/results/edge-<UTC date>.txt and regenerates the
# "## Edge proxy" section of docs/benchmarks.md.
#
# Usage: bench/edge/run.sh   (ROUNDS=3 DURATION=10s CONNS=64 by default)
#
# Three kinds of load, each target ROUNDS times in turn (interleaved, so
# that a burst of other load hits all alike), the round with the median
# rate reported:
#   http    wrk -t2 -c$CONNS -d$DURATION --latency, plain HTTP, kept-alive
#   https   the same over TLS (one handshake per connection, then kept-alive)
#   newtls  edgebench handshakes -c$HS_CONNS: a fresh TLS 1.3 handshake
#           (X25519, no resumption), one GET with Connection: close, per
#           connection; rate and latency of the whole exchange
# Targets:
#   backend      the backend itself: the ceiling (http only)
#   nginx        Debian's nginx, bench/edge/nginx.conf
#   caddy        Debian's Caddy, bench/edge/Caddyfile
#   zeitwork     edge -> tunnel.Serve (separate process) -> backend: production path
#   zw-mtls      the same over mutual TLS (tunnel.ServeTLS, internal/pki
#                certificates), as edges and nodes talk in production
#   zw-direct    edge -> backend, no tunnel hop: like for like with nginx/Caddy
#   zw-nat       edge --node-transport direct -> the node's kernel DNAT (a
#                node's VM network with --direct-addr, edgebench natnode) ->
#                backend in a stand-in VM on the VM bridge: the production
#                path with the direct transport (needs root)
#   nginx-nat    nginx, as above, in front of the same stand-in VM through the
#                same direct address and DNAT: zw-nat's like-for-like peer
#   go-stock     httputil.ReverseProxy over the same tunnel, for reference (http only)
# Every HTTPS server serves the same certificate (ECDSA P-256) from a test
# CA that `edgebench cert` makes for this run.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
HS_CONNS=${HS_CONNS:-16}
HOST=bench.localhost # the edge routes by Host; nginx and Caddy ignore it

[ "$(id -u)" = 0 ] || { echo "run.sh: run as root: zw-nat sets up a node's VM network (nftables, namespaces)" >&2; exit 1; }
for tool in go wrk nginx caddy curl nft ip; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed: run make deps (scripts/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

declare -A pid
start() { # name cmd...
	local name=$1; shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	pid[$name]=$!
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

wait_https() { # name port: the certificate verifies against the run's CA
	local name=$1 port=$2 deadline=$((SECONDS + 10))
	until [ "$(curl -fsS -m 1 --cacert "$work/ca.pem" --resolve "$HOST:$port:127.0.0.1" "https://$HOST:$port/" 2>/dev/null)" = "Hello, world!" ]; do
		if [ $SECONDS -ge $deadline ]; then
			echo "run.sh: $name on port $port did not answer over HTTPS; its log:" >&2
			cat "$work/$name.log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}

go build -o "$work/edgebench" ./bench/edge/cmd/edgebench
eb=$work/edgebench
mkdir -p "$work/nginx" "$work/caddy"

"$eb" cert -dir "$work"
cert=$work/cert.pem key=$work/key.pem
# nginx reads its certificate relative to its configuration file.
cp bench/edge/nginx.conf "$cert" "$key" "$work/nginx/"

start backend "$eb" backend -addr 127.0.0.1:28080
start backend-h "$eb" backend -addr 127.0.0.1:28086 -tunnel-header
start tunnel "$eb" tunnel -addr 127.0.0.1:28081 -to 127.0.0.1:28080
start zeitwork "$eb" edge -addr 127.0.0.1:28082 -node 127.0.0.1:28081 \
	-tls-addr 127.0.0.1:28088 -cert "$cert" -key "$key"
start tunnel-mtls "$eb" tunnel -addr 127.0.0.1:28095 -to 127.0.0.1:28080 -tunnel-tls "$work"
start zw-mtls "$eb" edge -addr 127.0.0.1:28096 -node 127.0.0.1:28095 -tunnel-tls "$work" \
	-tls-addr 127.0.0.1:28097 -cert "$cert" -key "$key"
start zw-direct "$eb" edge -addr 127.0.0.1:28087 -node 127.0.0.1:28086 \
	-tls-addr 127.0.0.1:28089 -cert "$cert" -key "$key"
start go-stock "$eb" stock -addr 127.0.0.1:28085 -node 127.0.0.1:28081
# The node's VM network with the direct transport; it removes it on exit.
start natnode "$eb" natnode -out "$work/nat.addr"
deadline=$((SECONDS + 20))
until [ -s "$work/nat.addr" ]; do
	if [ $SECONDS -ge $deadline ] || ! kill -0 "${pid[natnode]}" 2>/dev/null; then
		echo "run.sh: edgebench natnode did not publish the backend; its log:" >&2
		cat "$work/natnode.log" >&2 || true
		exit 1
	fi
	sleep 0.1
done
start zw-nat "$eb" edge -addr 127.0.0.1:28098 -node 127.0.0.1:28081 -direct "$(cat "$work/nat.addr")" \
	-tls-addr 127.0.0.1:28099 -cert "$cert" -key "$key"
start nginx nginx -p "$work/nginx/" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
# nginx, configured the same, in front of the same stand-in VM through the
# same direct address and DNAT: the peer for zw-nat, like for like.
mkdir -p "$work/nginx-nat"
cp "$cert" "$key" "$work/nginx-nat/"
sed -e "s/server 127.0.0.1:28080;/server $(cat "$work/nat.addr");/" \
	-e 's/listen 127.0.0.1:28083;/listen 127.0.0.1:28110;/' -e 's/listen 127.0.0.1:28093 /listen 127.0.0.1:28111 /' \
	bench/edge/nginx.conf >"$work/nginx-nat/nginx.conf"
start nginx-nat nginx -p "$work/nginx-nat/" -c "$work/nginx-nat/nginx.conf" -e "$work/nginx-nat/error.log"
EDGEBENCH_CERT=$cert EDGEBENCH_KEY=$key XDG_CONFIG_HOME=$work/caddy XDG_DATA_HOME=$work/caddy \
	start caddy caddy run --config bench/edge/Caddyfile --adapter caddyfile

# name:port:kind; the ports of each proxy's plain and TLS listeners. All
# below the kernel's ephemeral range (32768 and up), so that no test's
# port :0 listener can hold one.
targets=(backend:28080:http nginx:28083:http caddy:28084:http zeitwork:28082:http zw-mtls:28096:http zw-direct:28087:http
	zw-nat:28098:http nginx-nat:28110:http go-stock:28085:http nginx:28093:https caddy:28094:https zeitwork:28088:https zw-mtls:28097:https
	zw-direct:28089:https zw-nat:28099:https nginx-nat:28111:https
	nginx:28093:newtls caddy:28094:newtls zeitwork:28088:newtls zw-direct:28089:newtls)
kinds=(http https newtls)
for t in "${targets[@]}"; do
	IFS=: read -r name port kind <<<"$t"
	[ "$kind" = http ] && wait_http "$name" "$port"
	[ "$kind" = https ] && wait_https "$name" "$port"
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# measure kind port out: one load of the kind against port, wrk's output
# (or edgebench handshakes', which prints the same fields) in out.
measure() {
	case $1 in
	http) wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "Host: $HOST" "http://127.0.0.1:$2/" >"$3" ;;
	https) wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "Host: $HOST" "https://127.0.0.1:$2/" >"$3" ;;
	newtls) "$eb" handshakes -to "127.0.0.1:$2" -c "$HS_CONNS" -d "$DURATION" >"$3" ;;
	esac
}
# cpu_ticks name: CPU time (user + system, clock ticks) used so far by
# the processes of a proxy: nginx's master and workers; for zeitwork the
# edge and the tunnel process, which a node runs for it.
cpu_ticks() {
	local ps=(${pid[$1]})
	case $1 in
	nginx) ps+=($(pgrep -P "${pid[nginx]}")) ;;
	nginx-nat) ps+=($(pgrep -P "${pid[nginx-nat]}")) ;;
	zeitwork) ps+=("${pid[tunnel]}") ;;
	zw-mtls) ps+=("${pid[tunnel-mtls]}") ;;
	go-stock) ps+=("${pid[tunnel]}") ;;
	esac
	local p t=0
	for p in "${ps[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$t"
}
rate() { awk '/(Requests|Handshakes)\/sec/{print $2}' "$1"; }

for round in $(seq "$ROUNDS"); do
	for t in "${targets[@]}"; do
		IFS=: read -r name port kind <<<"$t"
		DURATION=2s measure "$kind" "$port" /dev/null # warm-up
		c0=$(cpu_ticks "$name")
		measure "$kind" "$port" "$work/$name.$kind.$round.wrk"
		echo "$(($(cpu_ticks "$name") - c0))" >"$work/$name.$kind.$round.cpu"
		echo "round $round: $kind $name $(rate "$work/$name.$kind.$round.wrk")/s" | tee -a "$work/rounds" >&2
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ms converts a wrk latency (690.00us, 4.52ms, 1.02s) to milliseconds.
ms() { awk -v v="$1" 'BEGIN{u=v; sub(/[0-9.]+/,"",u); n=v+0; if(u=="us")n/=1000; else if(u=="s")n*=1000; else if(u=="m")n*=60000; printf "%.2f", n}'; }

# pick prints the output file of the round with the median rate of $1
# (name.kind).
pick() {
	for r in $(seq "$ROUNDS"); do
		echo "$(rate "$work/$1.$r.wrk") $work/$1.$r.wrk"
	done | sort -n | awk '{a[NR]=$2} END{print a[int((NR+1)/2)]}'
}

declare -A rps p50 p99 cpu errs
for t in "${targets[@]}"; do
	IFS=: read -r name port kind <<<"$t"
	id=$name.$kind
	f=$(pick "$id")
	cp "$f" "$work/$id.median.wrk"
	rps[$id]=$(awk '/(Requests|Handshakes)\/sec/{printf "%.0f", $2}' "$f")
	p50[$id]=$(ms "$(awk '$1=="50%"{print $2}' "$f")")
	p99[$id]=$(ms "$(awk '$1=="99%"{print $2}' "$f")")
	# CPU per request (or connection) of the median round, in µs.
	r=${f%.wrk}
	r=${r##*.}
	n=$(awk '/requests in|handshakes in/{print $1; exit}' "$f")
	cpu[$id]=$(awk -v t="$(cat "$work/$id.$r.cpu")" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.0f", t*1e6/hz/n}')
	errs[$id]=$(awk '/Non-2xx|Socket errors|[1-9][0-9]* errors/{printf "%s ", $0}' "$f")
done
# ratio prints the median over rounds of $1's rate divided by $2's in the
# same round (both name.kind): rounds run minutes apart on a shared
# machine, so like-for-like pairs are steadier than a ratio of medians.
ratio() {
	for r in $(seq "$ROUNDS"); do
		awk -v a="$(rate "$work/$1.$r.wrk")" -v b="$(rate "$work/$2.$r.wrk")" 'BEGIN{printf "%.4f\n", a/b}'
	done | sort -n | awk '{a[NR]=$1} END{printf "%.2f", a[int((NR+1)/2)]}'
}

date_utc=$(date -u +%Y-%m-%d)
cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
cores=$(nproc)
# The edge runs no VM; the accelerator is stated as for every benchmark,
# as the deploy benchmark found it by booting a VM (an openable /dev/kvm
# proves nothing: it may be PVM, which stock guests hang on).
accel=$(ls bench/results/deploy-*.md 2>/dev/null | sort | tail -1 | xargs -r grep -ho 'accelerator: \*\*[A-Za-z]*' | tr -d '*' | awk '{print $2}')
accel=${accel:-unknown (not probed)}
declare -A title=([http]="Plain HTTP, kept-alive connections (wrk -c$CONNS)"
	[https]="HTTPS, kept-alive connections (wrk -c$CONNS)"
	[newtls]="New TLS connections: handshake + one request each (edgebench handshakes -c$HS_CONNS)")
declare -A unit=([http]="req/s" [https]="req/s" [newtls]="conns/s")
table() {
	for k in "${kinds[@]}"; do
		echo "${title[$k]}:"
		echo
		echo "| Proxy | ${unit[$k]} | p50 ms | p99 ms | CPU µs each | vs nginx | vs Caddy |"
		echo "|---|---:|---:|---:|---:|---:|---:|"
		for t in "${targets[@]}"; do
			IFS=: read -r n port kind <<<"$t"
			[ "$kind" = "$k" ] || continue
			echo "| $n | ${rps[$n.$k]} | ${p50[$n.$k]} | ${p99[$n.$k]} | ${cpu[$n.$k]} | $(ratio "$n.$k" "nginx.$k") | $(ratio "$n.$k" "caddy.$k") |"
		done
		echo
		if [ -n "${rps[nginx-nat.$k]:-}" ]; then
			echo "Through the VM network (both proxies dial the stand-in VM's direct address): zw-nat is $(ratio "zw-nat.$k" "nginx-nat.$k")x nginx-nat."
			echo
		fi
	done
}

mkdir -p bench/results
out=${OUT:-bench/results/edge-$date_utc.txt} # OUT: a second run of the day
{
	echo "Edge proxy benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "Machine: $cpu, $cores cores, $(uname -sr), accelerator $accel (unused: no VM runs); load average before $load_before, after $load_after"
	echo "Software: $(nginx -v 2>&1 | sed 's/nginx version: //'), Caddy $(caddy version | cut -d' ' -f1), $(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
	echo "Load: wrk -t2 -c$CONNS -d$DURATION --latency (HTTP and HTTPS, keep-alive), edgebench handshakes -c$HS_CONNS -d$DURATION (new TLS connections); Host: $HOST, 13-byte body; median of $ROUNDS interleaved rounds (ratios: median of per-round ratios)"
	echo "TLS: $(awk '/Negotiated/{$1=""; print; exit}' "$work/zeitwork.newtls.median.wrk") (edge); $(awk '/Negotiated/{$1=""; print; exit}' "$work/nginx.newtls.median.wrk") (nginx); $(awk '/Negotiated/{$1=""; print; exit}' "$work/caddy.newtls.median.wrk") (Caddy)"
	echo
	table
	for t in "${targets[@]}"; do
		IFS=: read -r n port kind <<<"$t"
		[ -n "${errs[$n.$kind]}" ] && echo "$n $kind: ${errs[$n.$kind]}"
	done
	echo "Every round (other work on the machine makes single rounds vary):"
	cat "$work/rounds"
	echo
	for t in "${targets[@]}"; do
		IFS=: read -r n port kind <<<"$t"
		echo "== $n $kind (median round) =="
		cat "$work/$n.$kind.median.wrk"
	done
} >"$out"

section=$work/section.md
{
	echo "## Edge proxy"
	echo
	echo "Rate and latency of the edge against nginx and Caddy, each proxying to the same tiny"
	echo "Go backend (13-byte body, keep-alive) on loopback, measured in one run by"
	echo "\`bench/edge/run.sh\` (\`make bench-edge\`): plain HTTP and HTTPS on kept-alive connections"
	echo "(\`wrk -t2 -c$CONNS -d$DURATION --latency\`), and new TLS connections (\`edgebench handshakes"
	echo "-c$HS_CONNS\`: a full TLS 1.3 handshake, X25519, no resumption, then one request with"
	echo "\`Connection: close\`). Each figure is the round with the median rate of $ROUNDS interleaved"
	echo "rounds; the ratios are the median of the per-round ratios. Every HTTPS server serves"
	echo "the same ECDSA P-256 certificate from a test CA made for the run. Everything, wrk"
	echo "included, shares the machine: $cpu, $cores cores, accelerator $accel (irrelevant here: no VM"
	echo "runs), load average $load_before before the run and $load_after after it (wrk, the"
	echo "proxies and the backend make about 3 of it; above that, other engineers' work shares"
	echo "the 2 cores and compresses the ratios towards 1). Raw output: \`$out\`."
	echo
	table
	echo "- \`zeitwork\` is the production path: edge -> node agent's tunnel (\`tunnel.Serve\`,"
	echo "  a separate process, as on a node) -> app. \`zw-direct\` leaves the tunnel hop out"
	echo "  (the backend reads the tunnel header itself), like for like with nginx and Caddy."
	echo "  \`zw-mtls\` is \`zeitwork\` with the tunnel over mutual TLS (\`tunnel.ServeTLS\`,"
	echo "  \`internal/pki\` certificates), as edges and nodes talk in production."
	echo "  All serve as the edge role does: \`Edge.Listener\` (connection caps) under the TLS"
	echo "  listener, TLS 1.2+ with h2 and HTTP/1.1; one fixed certificate stands in for"
	echo "  certmagic's cache."
	echo "- \`zw-nat\` is the production path with the direct transport (\`--node-transport direct\`):"
	echo "  the edge dials the instance's direct address in plain TCP and the node's kernel DNATs"
	echo "  it (nftables, as \`zeitwork node --direct-addr\` sets it up) through the VM network's"
	echo "  veth, namespace and bridge to the backend in a stand-in VM namespace; no user-space hop."
	echo "  Its CPU is the edge's alone: the node's part is the kernel's. \`nginx-nat\` is nginx,"
	echo "  configured as \`nginx\`, in front of the same stand-in VM through the same address and"
	echo "  DNAT: the same backend on the same path, so zw-nat against nginx-nat is like for like."
	echo "- \`go-stock\` is \`httputil.ReverseProxy\` with a tuned \`http.Transport\` over the same"
	echo "  tunnel: the edge's own proxy loop (\`internal/edge\`) exists because of this row."
	echo "- nginx: \`bench/edge/nginx.conf\` (one worker per core, upstream keepalive, HTTP/1.1,"
	echo "  access log off; TLS with a shared session cache and HTTP/2). Caddy:"
	echo "  \`bench/edge/Caddyfile\` (\`reverse_proxy\` defaults, logs off, \`tls\` with the files)."
	echo "- CPU µs each: CPU time (user + system) the proxy's processes spent per request (per"
	echo "  connection for new TLS connections) in that round: nginx's master and workers; for"
	echo "  \`zeitwork\`, \`zw-mtls\` and \`go-stock\` the edge plus the tunnel process. Less sensitive to the"
	echo "  other load on the machine than the rates; the backend's and wrk's CPU are not in it."
	echo "- wrk speaks HTTP/1.1 only, so HTTP/2 is not measured."
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
