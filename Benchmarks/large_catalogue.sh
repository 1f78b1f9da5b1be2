#!/usr/bin/env bash
# A 60-second query against a real catalogue file of HOURS hours, through the `cliptrace` binary.
#
#   Benchmarks/large_catalogue.sh HOURS [--no-corners]
#
# The catalogue (cached in $CACHE, default /tmp/cliptrace-large) holds HOURS hours of synthetic 10-minute clips
# written by the LargeCatalogue tool (hashes shaped like real video, 44 corners a second from real frames of
# testmedia and the evaluation kit, see Benchmarks/Benchmarks/LargeCatalogue/main.swift) and six real
# references of the evaluation kit registered by `cliptrace register`. The query (cached too) is 60 s of
# lavfi pictures with four copies planted in it: two plain re-encodes (lebiniou_121953 1-9 s, ocv_vtest 20-30 s)
# and two crops as `Benchmarks/crop_curve.sh` makes them (ocv_megamind 1-7 s kept 85 %, blupi_play108 1-6 s
# kept 80 %, at off-centre offsets, stretched back to 640x360).
#
# The first scan builds the saved index (timed and reported); then the scan is timed with the index mapped.
# With BASELINE=/path/to/older/cliptrace the same scan runs through that binary too (it rebuilds its index in
# memory on every run). The last line is:
#
#   hours=H start_s=S match_s=S scan_s=S peak_rss_mb=M planted_found=K/N crop_found=K/N false_matches=F
#
# start_s: launch to index ready; match_s: matching beyond decoding and hashing the query.
# Needs the evaluation corpus (run ../shared/eval/run.sh once) and about 14 GB of disk per 1,000 hours.
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:?usage: Benchmarks/large_catalogue.sh HOURS [--no-corners]}
corners_flag=${2:-}
corpus=${CORPUS:-/tmp/cliptrace-eval}
cache=${CACHE:-/tmp/cliptrace-large}
refs="$corpus/public/catalogue"
[ -f "$refs/ocv_megamind.mp4" ] || { echo "run ../shared/eval/run.sh first (it builds the evaluation corpus)" >&2; exit 1; }
mkdir -p "$cache"
swift build -c release --product cliptrace >/dev/null
bin="$(swift build -c release --show-bin-path)/cliptrace"
(cd Benchmarks && swift build -c release --product LargeCatalogue >/dev/null)
generator="$(cd Benchmarks && swift build -c release --show-bin-path)/LargeCatalogue"

suffix=""; [ "$corners_flag" = "--no-corners" ] && suffix="-hashes"
catalogue="$cache/catalogue-${hours}h$suffix.sqlite"
if [ ! -f "$catalogue.complete" ]; then
  rm -rf "$catalogue" "$catalogue-wal" "$catalogue-shm" "$catalogue.index"
  echo "writing the ${hours}-hour catalogue $catalogue (cached for later runs)" >&2
  "$generator" "$hours" "$catalogue" $corners_flag testmedia/references/*.mp4 "$refs"/*.mp4 >&2
  "$bin" register -q --catalogue "$catalogue" "$refs"/{ocv_megamind,renpy_launch,skv_bigbuckbunny,blupi_play108,lebiniou_121953,ocv_vtest}.mp4 >/dev/null
  rm -rf "$catalogue.index"  # built, and timed, by the first scan below
  touch "$catalogue.complete"
fi

query="$cache/query-60s.mp4"
if [ ! -s "$query" ]; then
  enc=(-c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p -an)
  norm="scale=640:360,setsar=1,fps=25,format=yuv420p"
  ffmpeg -nostdin -loglevel error -y \
    -f lavfi -i "testsrc2=s=640x360:r=25:d=12" \
    -ss 1 -t 6 -i "$refs/ocv_megamind.mp4" \
    -f lavfi -i "life=s=320x180:r=25:seed=7:mold=10:ratio=0.3,scale=640:360:flags=neighbor" \
    -ss 1 -t 8 -i "$refs/lebiniou_121953.mp4" \
    -f lavfi -i "cellauto=s=640x360:r=25:rule=30:seed=3" \
    -ss 1 -t 5 -i "$refs/blupi_play108.mp4" \
    -ss 20 -t 10 -i "$refs/ocv_vtest.mp4" \
    -f lavfi -i "testsrc=s=640x360:r=25:d=5" \
    -filter_complex "
      [0:v]$norm[a];
      [1:v]crop=iw*0.85:ih*0.85:(iw-ow)*0.3:(ih-oh)*0.6,$norm[b];
      [2:v]trim=duration=8,setpts=PTS-STARTPTS,$norm[c];
      [3:v]$norm[d];
      [4:v]trim=duration=6,setpts=PTS-STARTPTS,$norm[e];
      [5:v]crop=iw*0.80:ih*0.80:(iw-ow)*0.7:(ih-oh)*0.2,$norm[f];
      [6:v]$norm[g];
      [7:v]$norm[h];
      [a][b][c][d][e][f][g][h]concat=n=8:v=1:a=0[out]" \
    -map "[out]" "${enc[@]}" "$query"
fi
# Where each copy sits in the query (seconds) and in its reference.
truth='[["lebiniou_121953", 26, 34, 1, "planted"], ["ocv_vtest", 45, 55, 20, "planted"],
        ["ocv_megamind", 12, 18, 1, "crop"], ["blupi_play108", 40, 45, 1, "crop"]]'

if [ ! -d "$catalogue.index" ]; then
  echo "building the saved index of $catalogue (once)" >&2
  Benchmarks/peak_memory.py "$cache/build-memory.txt" "$bin" scan -q --catalogue "$catalogue" "$query" >/dev/null
  echo "index built (with one scan): $(cat "$cache/build-memory.txt")" >&2
fi

measure() {  # binary label extra-args...
  local binary=$1 label=$2; shift 2
  Benchmarks/peak_memory.py "$cache/memory.txt" /usr/bin/time -v -o "$cache/time.txt" \
    "$binary" scan -v --catalogue "$catalogue" "$@" "$query" > "$cache/scan-$label.jsonl" 2> "$cache/scan-$label.log" || true
  python3 - "$hours" "$cache/scan-$label.jsonl" "$cache/scan-$label.log" "$cache/time.txt" "$truth" "$label" "$cache/memory.txt" <<'PY'
import json, re, sys
hours, out, log, timing, truth, label = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]), sys.argv[6]
memory = open(sys.argv[7]).read().split()
text = open(log).read()
def number(pattern, default="nan"):
    found = re.findall(pattern, text)
    return found[-1] if found else default
start = number(r"seconds_since_launch=([0-9.]+)")
match = number(r"match_seconds=([0-9.]+)")
t = open(timing).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([0-9.]+)", t)
scan = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))) if wall else float("nan")
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
matches = [json.loads(l) for l in open(out) if l.strip()]
matches = [m for m in matches if m.get("reference") and m.get("score", 0) >= 0.5]
found = {"planted": 0, "crop": 0}; total = {"planted": 0, "crop": 0}; used = set()
for ref, q0, q1, r0, kind in truth:
    total[kind] += 1
    for i, m in enumerate(matches):
        if m["reference"] == ref and abs(m["query_start"] - q0) <= 1.5 and abs(m["query_end"] - q1) <= 1.5 \
                and abs(m["reference_start"] - r0) <= 1.5:
            found[kind] += 1; used.add(i); break
false = sum(1 for i, m in enumerate(matches) if i not in used and not any(m["reference"] == t[0] for t in truth))
print(f"[{label}] memory: " + " ".join(memory[:3]) + " (file pages are the mapped index, dropped under pressure)")
print(f"[{label}] " + " ".join(f"{m['reference']} q {m['query_start']:.1f}-{m['query_end']:.1f} r {m['reference_start']:.1f} score {m['score']:.2f}" for m in matches))
print(f"hours={hours} start_s={float(start):.2f} match_s={float(match):.2f} scan_s={scan:.2f} peak_rss_mb={rss:.0f} "
      f"planted_found={found['planted']}/{total['planted']} crop_found={found['crop']}/{total['crop']} false_matches={false}")
PY
}
if [ -n "${BASELINE:-}" ]; then
  echo "baseline: $BASELINE (index rebuilt in memory on every run)" >&2
  measure "$BASELINE" baseline | sed 's/^hours=/before: hours=/'
fi
measure "$bin" current
