#!/usr/bin/env bash
# Speed and accuracy of `scan --fast` (two passes: keyframes, then a full decode around what they found) on
# the evaluation kit's public split (SPLIT=dev for the dev split), as a livestream recorder would have encoded
# it: the queries re-encoded with a keyframe every KEYINT seconds (default 2; the split's own files carry one
# every 8-10 s). Scores the default and the fast scans of the same files with the kit's score.py.
#
#   [SPLIT=public|dev] [KEYINT=2] Benchmarks/fast_pass_eval.sh [CORPUS_DIR]
#   (default CORPUS_DIR /tmp/cliptrace-eval; run ../shared/eval/run.sh, with the same SPLIT, first)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-/tmp/cliptrace-eval}
kit=../shared/eval
split=${SPLIT:-public}
keyint=${KEYINT:-2}
run="$corpus/run"; [ "$split" = dev ] && run="$corpus/run-dev"
[ -f "$run/catalogue.sqlite" ] || { echo "run SPLIT=$split $kit/run.sh first (it builds the corpus and catalogue)" >&2; exit 1; }
swift build -c release --product cliptrace >/dev/null
bin="$(swift build -c release --show-bin-path)/cliptrace"
work="$corpus/fast-pass-$split-$keyint"
mkdir -p "$work/queries"
for query in "$corpus/$split"/queries/*.mp4; do
  out="$work/queries/$(basename "$query")"
  [ -s "$out" ] || ffmpeg -nostdin -v error -y -i "$query" -c:v libx264 -preset veryfast -crf 20 \
    -force_key_frames "expr:gte(t,n_forced*$keyint)" -c:a copy "$out"
done
for mode in dense fast; do
  flag=""; [ "$mode" = fast ] && flag="--fast"
  start=$(date +%s.%N)
  "$bin" scan -q $flag --catalogue "$run/catalogue.sqlite" "$work"/queries/*.mp4 > "$work/$mode.jsonl"
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  python3 - "$work/$mode.jsonl" "$work/$mode.predictions.jsonl" <<'PY'
import json, sys
with open(sys.argv[1]) as source, open(sys.argv[2], "w") as out:
    for line in source:
        record = json.loads(line)
        if record.get("reference"):
            out.write(json.dumps({"query": record["query"], "ref": record["reference"],
                                  "query_start": record["query_start"], "query_end": record["query_end"],
                                  "ref_start": record["reference_start"], "ref_end": record["reference_end"],
                                  "score": record["score"]}) + "\n")
PY
  echo "== scan $flag: $(printf '%.1f' "$seconds") s for the $split split (a keyframe every $keyint s)"
  python3 "$kit/score.py" --gt "$corpus/$split" --results "$work/$mode.predictions.jsonl" | grep -E "^ *(video level|segment level|negatives|localisation)|F1|AP" | head -6
done
