#!/usr/bin/env bash
# Source-to-live benchmark: starts the platform in-process with the
# sandboxed buildah builder (root), `git push`es (SOURCE=upload: uploads)
# the sample app and a Dockerfile with RUN steps, cold and warm, and writes
# bench/results/build-<source>-<date>.md and the "Source to live" section of
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
date=$(date -u +%Y-%m-%d)
via=${SOURCE:-git} # git: `git push` to the project's remote; upload: `zeitwork deploy DIR`'s path
out=bench/results/build-$via-$date.md
mkdir -p bench/results
go run ./bench/build -out "$out" -runs "${RUNS:-3}" -source "$via"
python3 - "$out" <<'PY'
import re, sys
report = open(sys.argv[1]).read()
doc_path = "docs/benchmarks.md"
doc = open(doc_path).read()
# The markers sit under the heading, so that other benchmarks' scripts,
# which replace whole "## " sections, leave this one alone.
section = "<!-- build:start -->\n\nMeasured by `bench/build/run.sh` (`make bench`); raw report: `" + sys.argv[1] + "`.\n\n" + report + "<!-- build:end -->"
if "<!-- build:start -->" in doc:
    doc = re.sub(r"<!-- build:start -->.*?<!-- build:end -->", lambda m: section, doc, flags=re.S)
else:
    doc = doc.rstrip() + "\n\n## Source to live\n" + section + "\n"
open(doc_path, "w").write(doc)
PY
echo "wrote $out and docs/benchmarks.md"
