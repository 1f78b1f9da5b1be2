#!/usr/bin/env bash
# One query against a large catalogue split into shards, as workers of `cliptrace worker --shard K/N` search it:
# each shard's memory against the whole catalogue's, and the shards' merged answer against the whole answer.
#
#   Benchmarks/sharded_catalogue.sh HOURS SHARDS [--no-corners]
#
# Uses the catalogue and the 60-second query of `Benchmarks/large_catalogue.sh HOURS` (run it first: it builds
# and caches them) through `cliptrace scan --shard K/N --save-shard FILE`, which gathers exactly what a worker
# of that shard gathers, with that shard's own saved index (built by a first, untimed scan); `cliptrace merge`
# then weighs and aligns every shard's evidence, as `cliptrace results` does. Prints one line per shard and
#
#   hours=H shards=N whole_index_mb=M shard_index_mb=M,M,… whole_rss_mb=M shard_rss_mb=M,M,… merged_identical=K/T
#
# index_mb: the search index's bytes in use (hash and corner sources); rss: peak resident memory, mapped index
# pages included.
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:?usage: Benchmarks/sharded_catalogue.sh HOURS SHARDS [--no-corners]}
shards=${2:?usage: Benchmarks/sharded_catalogue.sh HOURS SHARDS [--no-corners]}
suffix=""; [ "${3:-}" = "--no-corners" ] && suffix="-hashes"
cache=${CACHE:-/tmp/cliptrace-large}
catalogue="$cache/catalogue-${hours}h$suffix.sqlite"
query="$cache/query-60s.mp4"
[ -f "$catalogue.complete" ] && [ -s "$query" ] || { echo "run Benchmarks/large_catalogue.sh $hours ${3:-} first" >&2; exit 1; }
bin=$(realpath "${CLIPTRACE:-.build/release/cliptrace}")

scan() {  # label extra-args…: the answer, the log and the peak RSS of one scan
  local label=$1; shift
  /usr/bin/time -v -o "$cache/shard-time.txt" "$bin" scan -v --catalogue "$catalogue" "$@" "$query" \
    >"$cache/shard-$label.jsonl" 2>"$cache/shard-$label.log" || true
  python3 - "$cache/shard-$label.log" "$cache/shard-time.txt" <<'PY'
import re, sys
log, timing = open(sys.argv[1]).read(), open(sys.argv[2]).read()
index = re.findall(r"index_bytes=(\d+)", log)
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing)
print(f"{int(index[-1]) / 1e6 if index else float('nan'):.0f} {int(rss.group(1)) / 1024:.0f}")
PY
}

read -r whole_index whole_rss < <(scan whole)
shard_index=(); shard_rss=()
for k in $(seq "$shards"); do
  [ -d "$catalogue.index-shard-$k-of-$shards" ] || scan "build$k" --shard "$k/$shards" >/dev/null
  rm -f "$cache/shard-$k.ctss"
  read -r index rss < <(scan "$k" --shard "$k/$shards" --save-shard "$cache/shard-$k.ctss")
  shard_index+=("$index"); shard_rss+=("$rss")
  echo "shard $k/$shards: index_mb=$index peak_rss_mb=$rss saved_kb=$(( $(stat -c %s "$cache/shard-$k.ctss") / 1024 ))"
done
"$bin" merge -q $(for k in $(seq "$shards"); do echo "$cache/shard-$k.ctss"; done) >"$cache/shard-merged.jsonl"
merged=$(python3 - "$cache/shard-whole.jsonl" "$cache/shard-merged.jsonl" <<'PY'
import sys
whole = [l for l in open(sys.argv[1]).read().splitlines() if '"reference":"' in l]
merged = [l for l in open(sys.argv[2]).read().splitlines() if '"reference":"' in l]
print(f"{len(set(whole) & set(merged))}/{max(len(whole), len(merged))}")
PY
)
echo "hours=$hours shards=$shards whole_index_mb=$whole_index shard_index_mb=$(IFS=,; echo "${shard_index[*]}") whole_rss_mb=$whole_rss shard_rss_mb=$(IFS=,; echo "${shard_rss[*]}") merged_identical=$merged"
