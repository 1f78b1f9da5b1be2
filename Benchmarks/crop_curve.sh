#!/usr/bin/env bash
# How much cropping `scan` survives: six references of the evaluation kit's catalogue (a film, an animation, a
# game, a visualiser, a launcher screen, a street camera), 6 s each from 1 s in, cropped to keep 95 % ... 70 %
# of each side at a pseudo-random offset (fixed seeds) and stretched back to 640x360, then scanned against the
# kit's catalogue. Prints, per kept fraction, how many were found at score >= 0.5 and the lowest such score;
# any match to another reference is printed as WRONG. Then crops of 85 % x 84 % combined with another transform
# (mirror, 240p, blur, noise, speed 1.1, grey + contrast, picture-in-picture, 250 kbit/s) on four references.
#
#   Benchmarks/crop_curve.sh [CORPUS_DIR]     (default /tmp/cliptrace-eval; run ../shared/eval/run.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-/tmp/cliptrace-eval}
[ -f "$corpus/run/catalogue.sqlite" ] || { echo "run ../shared/eval/run.sh first (it builds the corpus and catalogue)" >&2; exit 1; }
swift build -c release --product cliptrace >/dev/null
bin="$(swift build -c release --show-bin-path)/cliptrace"
work="$corpus/crop-curve"
mkdir -p "$work"
refs="ocv_megamind renpy_launch skv_bigbuckbunny blupi_play108 lebiniou_121953 ocv_vtest"
kept="0.95 0.90 0.85 0.80 0.75 0.70"
i=0
for ref in $refs; do
  for k in $kept; do
    i=$((i + 1))
    out="$work/crop_${ref}_${k}.mp4"
    [ -s "$out" ] && continue
    read -r ox oy < <(python3 -c "import random; random.seed($i); a = random.random(); random.seed($i * 7); print(round(a, 3), round(random.random(), 3))")
    ffmpeg -nostdin -loglevel error -y -ss 1 -t 6 -i "$corpus/public/catalogue/$ref.mp4" \
      -vf "crop=iw*$k:ih*$k:(iw-ow)*$ox:(ih-oh)*$oy,scale=640:360,setsar=1" \
      -c:v libx264 -preset veryfast -crf 26 -an "$out"
  done
done
combos="plain hflip down240 blur2 noise20 speed11 gray pip lowq"
i=0
for ref in ocv_megamind skv_bigbuckbunny blupi_play108 ocv_vtest; do
  i=$((i + 1))
  crop="crop=iw*0.85:ih*0.84:(iw-ow)*0.$((i * 2 + 1)):(ih-oh)*0.$((9 - i * 2))"
  for t in $combos; do
    out="$work/combo_${ref}_$t.mp4"
    [ -s "$out" ] && continue
    rate=(-crf 26)
    case $t in
      plain) vf="$crop,scale=640:360" ;;
      hflip) vf="$crop,hflip,scale=640:360" ;;
      down240) vf="$crop,scale=426:240" ;;
      blur2) vf="$crop,scale=640:360,gblur=sigma=2" ;;
      noise20) vf="$crop,scale=640:360,noise=alls=20:allf=t" ;;
      speed11) vf="$crop,scale=640:360,setpts=PTS/1.1" ;;
      gray) vf="$crop,scale=640:360,hue=s=0,eq=contrast=1.3:brightness=0.1" ;;
      pip) vf="$crop,scale=330:186,pad=640:360:280:30:color=0x304050" ;;
      lowq) vf="$crop,scale=640:360"; rate=(-b:v 250k) ;;
    esac
    ffmpeg -nostdin -loglevel error -y -ss 1 -t 6 -i "$corpus/public/catalogue/$ref.mp4" -vf "$vf,setsar=1" \
      -c:v libx264 -preset veryfast "${rate[@]}" -an "$out"
  done
done
start=$(date +%s.%N)
"$bin" scan -q --catalogue "$corpus/run/catalogue.sqlite" "$work"/crop_*.mp4 "$work"/combo_*.mp4 > "$work/results.jsonl" || true
echo "scan: $(echo "$(date +%s.%N) - $start" | bc) s"
python3 - "$work/results.jsonl" "$refs" "$kept" "$combos" <<'PY'
import json, sys
refs, kept, combos = sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
best = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    name = o["query"].rsplit("/", 1)[-1].split("_", 1)[1][:-len(".mp4")]
    ref, k = name.rsplit("_", 1)
    if o.get("reference") == ref and o.get("score", 0) >= 0.5:
        best[(ref, k)] = max(best.get((ref, k), 0), o["score"])
    elif o.get("reference") and o["reference"] != ref:
        print("WRONG", name, o["reference"], o.get("score"))
print("kept    found  lowest score")
for k in kept:
    scores = [best[(r, k)] for r in refs if (r, k) in best]
    print(f"{k}    {len(scores)}/{len(refs)}    {min(scores):.2f}" if scores else f"{k}    0/{len(refs)}")
combo_refs = ["ocv_megamind", "skv_bigbuckbunny", "blupi_play108", "ocv_vtest"]
print("crop 85 % x 84 % plus   found  lowest score")
for t in combos:
    scores = [best[(r, t)] for r in combo_refs if (r, t) in best]
    print(f"{t:<22} {len(scores)}/{len(combo_refs)}    {min(scores):.2f}" if scores else f"{t:<22} 0/{len(combo_refs)}")
PY
