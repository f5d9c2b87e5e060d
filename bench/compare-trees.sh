#!/bin/bash
# Runs bench sections for two checkouts of this repo in turn (before, after, before, after, …), so
# machine noise falls on both, and keeps each run's printout and results.json.
#
#   bench/compare-trees.sh <before-dir> <after-dir> [out-dir]
#   ROUNDS=2 SECTIONS="routes throughput bundles sandboxReady" BENCH_RUNS=5 bench/compare-trees.sh ../before .
#
# Each tree must be built (`npm run build`) with its dependencies installed.
set -eu
if [ $# -lt 2 ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
out=${3:-$(mktemp -d "${TMPDIR:-/tmp}/chatshyld-compare-XXXXXX")}
mkdir -p "$out"
for section in ${SECTIONS:-routes throughput bundles sandboxReady}; do
  for round in $(seq 1 "${ROUNDS:-2}"); do
    for side in before after; do
      tree=$before
      [ "$side" = after ] && tree=$after
      echo "== $section round $round $side $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)" | tee -a "$out/log.txt"
      (cd "$tree" && npx tsx bench/run.ts "$section" > "$out/$section-$round-$side.txt" 2>&1 && cp bench/results.json "$out/$section-$round-$side.json" && git checkout -q bench/results.json 2>/dev/null || true)
    done
  done
done
echo "results in $out"
