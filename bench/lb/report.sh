# Sourced by bench/lb/run.sh after the rounds: the results file and the
# "## Load balancer" section of docs/benchmarks.md, from $work/<scenario>.<target>.<round>.wrk.

# ms converts a wrk latency (690.00us, 4.52ms, 1.02s) to milliseconds.
ms() { awk -v v="$1" 'BEGIN{u=v; sub(/[0-9.]+/,"",u); n=v+0; if(u=="us")n/=1000; else if(u=="s")n*=1000; else if(u=="m")n*=60000; printf "%.2f", n}'; }

rps_of() { awk '/Requests\/sec/{print $2}' "$1"; }
p99_of() { ms "$(awk '$1=="99%"{print $2}' "$1")"; }

# median reads numbers, one a line, and prints their median.
median() { sort -n | awk '{a[NR]=$1} END{printf "%.2f", a[int((NR+1)/2)]}'; }

# pick prints the wrk file of scenario $1, target $2 with the median req/s.
pick() {
	for r in $(seq "$ROUNDS"); do echo "$(rps_of "$work/$1.$2.$r.wrk") $work/$1.$2.$r.wrk"; done |
		sort -n | awk '{a[NR]=$2} END{print a[int((NR+1)/2)]}'
}

# ratio: median over rounds of target $2's req/s over target $3's, scenario
# $1; rounds run minutes apart on a shared machine, so pairs from one round
# are steadier than a ratio of medians.
ratio() {
	for r in $(seq "$ROUNDS"); do
		awk -v a="$(rps_of "$work/$1.$2.$r.wrk")" -v b="$(rps_of "$work/$1.$3.$r.wrk")" 'BEGIN{printf "%.4f\n", a/b}'
	done | median
}

# added: median over rounds of target $2's p99 minus direct's, in ms.
added() {
	for r in $(seq "$ROUNDS"); do
		awk -v a="$(p99_of "$work/$1.$2.$r.wrk")" -v b="$(p99_of "$work/$1.direct.$r.wrk")" 'BEGIN{printf "%.3f\n", a-b}'
	done | median
}

# cpu_of prints the proxy's CPU microseconds per request in a wrk file.
cpu_of() {
	awk -v hz="$(getconf CLK_TCK)" '/requests in/{n=$1} /^ProxyCPUTicks/{t=$2} END{printf "%.1f\n", t*1e6/hz/n}' "$1"
}

# cpu: median over rounds of target $2's CPU per request, scenario $1.
cpu() {
	for r in $(seq "$ROUNDS"); do cpu_of "$work/$1.$2.$r.wrk"; done | median
}

# cpu_ratio: median over rounds of HAProxy's CPU per request over target $2's
# (above 1: $2 spends less CPU per request).
cpu_ratio() {
	for r in $(seq "$ROUNDS"); do
		awk -v a="$(cpu_of "$work/$1.haproxy.$r.wrk")" -v b="$(cpu_of "$work/$1.$2.$r.wrk")" 'BEGIN{printf "%.4f\n", a/b}'
	done | median
}

table() {
	echo "| Scenario | Target | req/s | p50 ms | p99 ms | added p99 ms | vs HAProxy | proxy CPU µs/req | HAProxy CPU / its |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for s in "${scenarios[@]}"; do
		for t in "${targets[@]}"; do
			n=${t%%:*} f=$(pick "$s" "${t%%:*}")
			add=- vs=- c=- cr=-
			if [ "$n" != direct ]; then
				add=$(added "$s" "$n") vs=$(ratio "$s" "$n" haproxy) c=$(cpu "$s" "$n") cr=$(cpu_ratio "$s" "$n")
			fi
			echo "| $s | $n | $(awk '/Requests\/sec/{printf "%.0f", $2}' "$f") | $(ms "$(awk '$1=="50%"{print $2}' "$f")") | $(p99_of "$f") | $add | $vs | $c | $cr |"
		done
	done
}

# verdict states, for `zeitwork` (GOMAXPROCS = cores) in each scenario,
# whether the 0.9x target is met on req/s and on CPU per request.
verdict() {
	for s in "${scenarios[@]}"; do
		r=$(ratio "$s" zeitwork haproxy) c=$(cpu_ratio "$s" zeitwork)
		awk -v s="$s" -v r="$r" -v c="$c" 'BEGIN{
			printf "- %s: req/s %.2fx HAProxy (target 0.9x: %s); CPU per request: HAProxy'"'"'s is %.2fx ours (0.9x: %s).\n",
				s, r, (r >= 0.9 ? "met" : "not met"), c, (c >= 0.9 ? "met" : "not met")}'
	done
}

date_utc=$(date -u +%Y-%m-%d)
cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
cores=$(nproc)
mkdir -p bench/results
out=bench/results/lb-$date_utc${RESULT_SUFFIX:-}.txt
{
	echo "Load balancer benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "Machine: $cpu, $cores cores, $(uname -sr); load average before $load_before, after $load_after"
	echo "Software: $(haproxy -v | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | sed 's/nginx version: //'), $(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
	echo "Load: wrk -t2 -c$CONNS -d$DURATION --latency (close: -H 'Connection: close'), 13-byte body; median of $ROUNDS interleaved rounds (ratios and added p99: median of per-round values)"
	echo
	table
	echo
	verdict
	echo
	grep -h "Socket errors\|Non-2xx" "$work"/*.wrk | sort | uniq -c || true
	echo "Every round (other work on the machine makes single rounds vary):"
	cat "$work/rounds"
	echo
	for s in "${scenarios[@]}"; do
		for t in "${targets[@]}"; do
			echo "== $s ${t%%:*} (median round) =="
			cat "$(pick "$s" "${t%%:*}")"
		done
	done
} >"$out"

section=$work/section.md
{
	echo "## Load balancer"
	echo
	echo "\`zeitwork lb\` against HAProxy in TCP mode, both relaying to the same nginx backend"
	echo "(13-byte body) on loopback with a PROXY v2 header, measured in one run by"
	echo "\`bench/lb/run.sh\` (\`make bench-lb\`) with \`wrk -t2 -c$CONNS -d$DURATION --latency\`: \`keepalive\`"
	echo "is wrk's default (long connections: the relay's copying), \`close\` sends"
	echo "\`Connection: close\` (a new client connection, edge connection and PROXY header per"
	echo "request). The round with the median req/s of $ROUNDS interleaved rounds; \"vs HAProxy\" and"
	echo "\"added p99\" (over \`direct\`, wrk to nginx) are medians of per-round values, as are the"
	echo "proxy's own CPU time per request (/proc/PID/stat around each run) and HAProxy's CPU per"
	echo "request over the target's (above 1: the target spends less). Everything,"
	echo "wrk and nginx included, shares the machine: $cpu, $cores cores (load average"
	echo "$load_before before the run). Raw output: \`$out\`."
	echo
	table
	echo
	verdict
	echo
	echo "- HAProxy $(haproxy -v | head -1 | cut -d' ' -f3) (Debian): \`bench/lb/haproxy.cfg\`: \`mode tcp\`, \`nbthread\` = cores,"
	echo "  \`option splice-auto\`, \`send-proxy-v2\`, checks every 2 s. \`zeitwork lb\`: \`bench/lb/lb.json\`"
	echo "  (round-robin, TCP checks every 2 s), GOMAXPROCS = cores; \`zeitwork-1p\` is the same with"
	echo "  GOMAXPROCS=1 (one relay loop). Target: at least 0.9x HAProxy."
	echo "- \`zeitwork lb\` serves connections as HAProxy's threads do: one epoll loop per P accepts,"
	echo "  connects, writes the PROXY header and relays with one read and one write per ready"
	echo "  socket (internal/lb/README.md); on kept-alive connections both proxies make the same"
	echo "  system calls per request (read, write, an epoll_wait for about 20 sockets)."
	echo "- Runs before 2026-11-29b passed wrk \`-H Connection:close\`, which wrk drops (it takes"
	echo "  only \`Name: value\`): their \`close\` rows measured kept-alive connections. A real"
	echo "  connection per request costs both proxies about ten times the CPU of a kept-alive request."
	echo "- Four processes (wrk, nginx, a proxy, and the machine's other work) share two cores: at a"
	echo "  load average above the core count a target's req/s swings up to 2x between rounds, and"
	echo "  \`direct\` below a proxy is that noise. The CPU per request is the steadier comparison."
} >"$section"

doc=docs/benchmarks.md
mkdir -p docs
[ -f "$doc" ] || printf '# Benchmarks\n\n' >"$doc"
if grep -q '^## Load balancer$' "$doc"; then
	awk -v sec="$section" '
		/^## Load balancer$/ { while ((getline l < sec) > 0) print l; skip = 1; next }
		skip && /^## / { skip = 0; print "" }
		!skip { print }
	' "$doc" >"$work/doc.md"
	cp "$work/doc.md" "$doc"
else
	{ echo; cat "$section"; } >>"$doc"
fi
echo "run.sh: wrote $out and updated $doc" >&2
table >&2
