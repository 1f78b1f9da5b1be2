#!/usr/bin/env bash
# Speed and accuracy of `scan --fast` (two passes: keyframes, then a full decode around what they found) on
# the evaluation kit's public split (SPLIT=dev for the dev split), as a livestream recorder would have encoded
# it: the queries re-encoded with a keyframe every KEYINT seconds (default 2; the split's own files carry one
# every 8-10 s). Scores the default and the fast scans of the same files with the kit's score.py.
#
# FILLER=SECONDS makes them livestream recordings instead: each query between two stretches of FILLER seconds
# of the split's distractors (footage never registered, scaled to the query's size and rate), so that copies
# are a few percent of the time, as in a long stream, instead of a third; the ground truth moves with them.
#
#   [SPLIT=public|dev] [KEYINT=2] [FILLER=0] Benchmarks/fast_pass_eval.sh [CORPUS_DIR]
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
filler=${FILLER:-0}
[[ "$filler" =~ ^[0-9]+$ ]] || { echo "FILLER must be a whole number of seconds" >&2; exit 1; }
work="$corpus/fast-pass-$split-$keyint"; truth="$corpus/$split"
[ "$filler" -gt 0 ] && { work="$corpus/livestream-$split-$keyint-$filler"; truth="$work"; }
mkdir -p "$work/queries"
if [ "$filler" -gt 0 ]; then
  # The distractors one after another at 720p, once; each recording takes its two stretches from a different
  # offset, scaled and cropped to the query's frame and rate.
  footage="$work/distractors.mp4"
  if [ ! -s "$footage" ]; then
    mapfile -t names < "$corpus/$split/distractors.txt"
    inputs=(); graph=""
    for i in "${!names[@]}"; do
      inputs+=(-i "${EVAL_SOURCES:-$corpus/sources}/refs/${names[$i]}.mp4")
      graph+="[$i:v]scale=1280:720:force_original_aspect_ratio=increase,crop=1280:720,setsar=1,fps=30,format=yuv420p[v$i];"
    done
    for i in "${!names[@]}"; do graph+="[v$i]"; done
    ffmpeg -nostdin -v error -y "${inputs[@]}" -filter_complex "${graph}concat=n=${#names[@]}:v=1:a=0[out]" \
      -map "[out]" -c:v libx264 -preset veryfast -crf 18 "$footage"
  fi
  length=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$footage")
  python3 -c "import sys; sys.exit(0 if $length >= 2 * $filler else 1)" ||
    { echo "the distractors last $length s, less than two stretches of $filler s" >&2; exit 1; }
  mkdir -p "$work/gt"
  index=0
  for query in "$corpus/$split"/queries/*.mp4; do
    name=$(basename "$query" .mp4)
    out="$work/queries/$name.mp4"
    offset=$(python3 -c "print(($index * 23) % max(1, int($length) - 2 * $filler))")
    index=$((index + 1))
    if [ ! -s "$out" ]; then
      IFS=, read -r width height rate < <(ffprobe -v error -select_streams v:0 \
        -show_entries stream=width,height,r_frame_rate -of csv=p=0 "$query")
      shape="scale=$width:$height:force_original_aspect_ratio=increase,crop=$width:$height,setsar=1,fps=$rate,format=yuv420p"
      ffmpeg -nostdin -v error -y -ss "$offset" -t $((2 * filler)) -i "$footage" -i "$query" -filter_complex \
        "[0:v]$shape,split[a][b];[a]trim=0:$filler,setpts=PTS-STARTPTS[before];[b]trim=$filler,setpts=PTS-STARTPTS[after];
         [1:v]setsar=1,format=yuv420p,setpts=PTS-STARTPTS[copy];[before][copy][after]concat=n=3:v=1:a=0[out]" \
        -map "[out]" -c:v libx264 -preset veryfast -crf 20 -force_key_frames "expr:gte(t,n_forced*$keyint)" "$out"
    fi
    # The ground truth, on the recording's timeline.
    python3 - "$corpus/$split/gt/$name.json" "$work/gt/$name.json" "$filler" <<'PY'
import json, sys
truth = json.load(open(sys.argv[1]))
shift = float(sys.argv[3])
for match in truth.get("matches", []):
    match["query_start"] += shift
    match["query_end"] += shift
json.dump({key: truth[key] for key in ("query", "positive", "transforms", "matches") if key in truth},
          open(sys.argv[2], "w"), indent=1)
PY
  done
else
  for query in "$corpus/$split"/queries/*.mp4; do
    out="$work/queries/$(basename "$query")"
    [ -s "$out" ] || ffmpeg -nostdin -v error -y -i "$query" -c:v libx264 -preset veryfast -crf 20 \
      -force_key_frames "expr:gte(t,n_forced*$keyint)" -c:a copy "$out"
  done
fi
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
  echo "== scan $flag: $(printf '%.1f' "$seconds") s for the $split split (a keyframe every $keyint s$( [ "$filler" -gt 0 ] && echo ", each query between two ${filler}-s stretches of other footage"))"
  python3 "$kit/score.py" --gt "$truth" --results "$work/$mode.predictions.jsonl" | grep -E "^ *(video level|segment level|negatives|localisation)|F1|AP" | head -6
done
