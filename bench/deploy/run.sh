#!/usr/bin/env bash
# Deploy benchmark: starts the platform in-process (root), deploys the
# sample app repeatedly, and writes bench/results/deploy-<date>.md and the
# "Deploy" section of docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
date=$(date -u +%Y-%m-%d)
out=bench/results/deploy-$date.md
mkdir -p bench/results
go run ./bench/deploy -out "$out" -runs "${RUNS:-4}"
python3 - "$out" <<'PY'
import re, sys
report = open(sys.argv[1]).read()
doc_path = "docs/benchmarks.md"
doc = open(doc_path).read()
# The markers sit under the heading, so that other benchmarks' scripts,
# which replace whole "## " sections, leave this one alone.
section = "<!-- deploy:start -->\n\nMeasured by `bench/deploy/run.sh` (`make bench`); raw report: `" + sys.argv[1] + "`.\n\n" + report + "<!-- deploy:end -->"
if "<!-- deploy:start -->" in doc:
    doc = re.sub(r"<!-- deploy:start -->.*?<!-- deploy:end -->", lambda m: section, doc, flags=re.S)
else:
    doc = doc.rstrip() + "\n\n## Deploy\n" + section + "\n"
open(doc_path, "w").write(doc)
PY
echo "wrote $out and docs/benchmarks.md"
