#!/usr/bin/env bash
# VM benchmark (issue 11): starts the platform in-process (root), measures
# VM start to app listening, deploy to 3 healthy, an idle instance's unique
# and shared memory and host CPU, and how many idle instances fit (booting
# FIT of them at once, bounded: the machine is shared), and writes
# bench/results/vm-<date>.txt and the "VMs" section of docs/benchmarks.md.
# A second platform with VM templates on (bench/vm/templates.go) deploys
# and wakes in the same rounds as the cold-boot one, once its template is
# built; restore beside cold boot through the driver alone comes from
# BenchmarkVMStart. VMSTART_BEFORE_INIT=<zeitwork-init binary> adds an A/B
# of that init (BenchmarkVMStart's "-before" modes) to the driver rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
date=$(date -u +%Y-%m-%d)
out=bench/results/vm-$date.txt
mkdir -p bench/results
go run ./bench/vm -out "$out" -rounds "${ROUNDS:-3}" -fit "${FIT:-20}"
# Restore beside cold boot, through the QEMU driver itself: cold boot,
# restore from a migration stream and restore over the template's shared,
# sealed memory, interleaved, then three idle VMs of each (USS/PSS).
{
	echo
	echo "VM start, cold boot beside restore (BenchmarkVMStart, internal/vmm/qemu):"
	go test -run '^$' -bench VMStart -benchtime "${ROUNDS:-3}x" ./internal/vmm/qemu/ 2>&1 | grep -E '^(Benchmark|goos|cpu|ok|FAIL)|ms/|MiB'
	if [ -n "${VMSTART_BEFORE_INIT:-}" ]; then
		echo
		echo "The driver's restore, this init beside VMSTART_BEFORE_INIT's (alternating rounds):"
		VMSTART_MODES=shared-before,shared VMSTART_NO_MEMORY=1 \
			go test -run '^$' -bench VMStart -benchtime "$((${ROUNDS:-3} * 2))x" ./internal/vmm/qemu/ 2>&1 | grep -E '^(Benchmark|ok|FAIL)|ms/'
	fi
} >>"$out"
# Idle restored instances side by side (BenchmarkVMIdle): translation
# cache sizes, health-checked and orphaned VMs, and, with IDLE_OLD_INIT
# (an init binary built from an earlier commit), the settings before the
# idle work; fit-by-memory and fit-by-cpu are how many idle restored,
# health-checked instances fit on this machine.
{
	echo
	echo "Idle restored instances (BenchmarkVMIdle, internal/vmm/qemu), and how many fit:"
	go test -v -run '^$' -bench VMIdle -benchtime "${ROUNDS:-3}x" -timeout 40m ./internal/vmm/qemu/ 2>&1 |
		grep -E '^(Benchmark|ok|FAIL)|: round [0-9]' | sed -E 's/^ +idle_bench_test.go:[0-9]+: //'
} >>"$out"
python3 - "$out" <<'PY'
import re, sys
report = open(sys.argv[1]).read()
doc_path = "docs/benchmarks.md"
doc = open(doc_path).read()
# Markers under the heading, as the deploy benchmark's, so that scripts
# replacing whole "## " sections leave this one alone.
section = ("<!-- vm:start -->\n\nMeasured by `bench/vm/run.sh` (`make bench-vm`); raw report: `"
           + sys.argv[1] + "`.\n\n```\n" + report.rstrip() + "\n```\n\n<!-- vm:end -->")
if "<!-- vm:start -->" in doc:
    doc = re.sub(r"<!-- vm:start -->.*?<!-- vm:end -->", lambda m: section, doc, flags=re.S)
else:
    doc = doc.rstrip() + "\n\n## VMs: start, memory, idle cost\n" + section + "\n"
open(doc_path, "w").write(doc)
PY
echo "wrote $out and docs/benchmarks.md"
