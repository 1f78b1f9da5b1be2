#!/usr/bin/env bash
# Speed ratios of ClipTrace against FFmpeg's own decode, measured in one run on this machine.
#
#   Benchmarks/ratios.sh [WORK_DIR]      (default /tmp/cliptrace-ratios; clips are generated once and reused)
#
# Prints, in one alternating run (every command of a clip in turn, three rounds, medians):
#   for 60 s clips of real content at 720p and 1080p (the evaluation kit's references one after another,
#   when its corpus exists: ../shared/eval/run.sh builds it) and of synthetic content (testsrc2 with noise),
#   `cliptrace fingerprint` and a single-file `cliptrace scan` (against the public split's catalogue, or a
#   one-clip catalogue without the corpus), each ÷ `ffmpeg -threads 2 -i clip -f null -`, with cores busy
#   and peak RSS, beside FFmpeg decoding only what ClipTrace decodes (`-skip_frame noref -skip_loop_filter
#   all`): the floor neither command can go below;
# then `cliptrace scan --jobs 2` ÷ `--jobs 1` on 8 files, and a 1-hour query against synthetic catalogues of
# 100, 1,000 and 10,000 hours (IndexScaling: build time, index bytes per frame, query time, planted copies
# found, peak RSS; HOURS and LARGE_HOURS choose the sizes at 8 and 4 reference frames per second, e.g.
# LARGE_HOURS=1000 to skip the largest, LARGE_HOURS= HOURS= to skip the scaling).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/cliptrace-ratios}
mkdir -p "$work"
swift build -c release --product cliptrace >/dev/null
bin="$(swift build -c release --show-bin-path)/cliptrace"

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
for size in 1920x1080 1280x720; do
  clip="$work/clip_${size}.mp4"
  [ -s "$clip" ] || ff -f lavfi -i "testsrc2=size=$size:rate=30,hue=H=0.4*t,noise=alls=8:allf=t" -t 60 \
    -c:v libx264 -preset veryfast -crf 23 -bf 3 -g 60 -pix_fmt yuv420p "$clip"
done
for i in 1 2 3 4 5 6 7 8; do
  part="$work/part_$i.mp4"
  [ -s "$part" ] || ff -ss $(( (i - 1) * 7 )) -t 20 -i "$work/clip_1280x720.mp4" -c copy "$part"
done

# Real content: the evaluation kit's reference clips one after another, 60 s at 720p (x264 medium, CRF 21)
# and 1080p (CRF 20). The corpus stays outside the repository.
corpus=${EVAL_CORPUS:-/tmp/cliptrace-eval}
references=()
[ -d "$corpus/public/catalogue" ] && mapfile -t references < <(ls "$corpus"/public/catalogue/*.mp4 | sort)
real_clips=()
if [ "${#references[@]}" -gt 0 ]; then
  for spec in 1280x720:21 1920x1080:20; do
    size=${spec%%:*}; crf=${spec##*:}; w=${size%x*}; h=${size#*x}
    clip="$work/real_${size}.mp4"
    if [ ! -s "$clip" ]; then
      inputs=(); graph=""
      for i in "${!references[@]}"; do
        inputs+=(-i "${references[$i]}")
        graph+="[$i:v]scale=$w:$h:force_original_aspect_ratio=decrease,pad=$w:$h:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=30,format=yuv420p[v$i];"
      done
      for i in "${!references[@]}"; do graph+="[v$i]"; done
      graph+="concat=n=${#references[@]}:v=1:a=0[out]"
      ff "${inputs[@]}" -filter_complex "$graph" -map "[out]" -t 60 -c:v libx264 -preset medium -crf "$crf" "$clip"
    fi
    real_clips+=("$clip")
  done
else
  echo "(no evaluation corpus in $corpus: run ../shared/eval/run.sh once for the real-content rows)"
fi

# The single-file scans search the public split's catalogue (copied, so that its saved index is written
# here), or without the corpus a catalogue of one synthetic part.
scan_catalogue="$work/public.sqlite"
rm -rf "$scan_catalogue" "$scan_catalogue"-* "$scan_catalogue".index
if [ -f "$corpus/run/catalogue.sqlite" ]; then
  cp "$corpus/run/catalogue.sqlite" "$scan_catalogue"
else
  "$bin" register -q --catalogue "$scan_catalogue" "$work/part_1.mp4" >/dev/null
fi
"$bin" scan -q --catalogue "$scan_catalogue" "$work/part_2.mp4" >/dev/null  # writes the saved index once

printf '%-48s %8s %6s %8s %8s\n' "measurement (median of 3, alternating)" "seconds" "cores" "peak MB" "÷ ffmpeg"
for clip in "${real_clips[@]}" "$work/clip_1280x720.mp4" "$work/clip_1920x1080.mp4"; do
  python3 - "$clip" "$bin" "$scan_catalogue" "$work/fingerprint.txt" <<'PY'
import os, statistics, subprocess, sys, time
clip, binary, catalogue, output = sys.argv[1:5]
name = os.path.basename(clip).removesuffix(".mp4")
commands = [
    ("ffmpeg -threads 2 decode", ["ffmpeg", "-nostdin", "-v", "error", "-threads", "2", "-i", clip, "-f", "null", "-"]),
    # The floor: FFmpeg decoding only what ClipTrace decodes (no deblocking, no unreferenced frames).
    ("ffmpeg decode, our skips", ["ffmpeg", "-nostdin", "-v", "error", "-skip_frame", "noref", "-skip_loop_filter",
                                   "all", "-threads", "4", "-i", clip, "-f", "null", "-"]),
    ("cliptrace fingerprint", [binary, "fingerprint", "-q", "-o", output, clip]),
    ("cliptrace scan, one file", [binary, "scan", "-q", "--catalogue", catalogue, clip]),
]
runs = {label: [] for label, _ in commands}
for _ in range(3):
    for label, command in commands:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            sys.exit(f"{label} failed on {clip}")
        runs[label].append((wall, (usage.ru_utime + usage.ru_stime) / wall, usage.ru_maxrss / 1024))
baseline = statistics.median(wall for wall, _, _ in runs[commands[0][0]])
for label, _ in commands:
    wall, cores, _ = sorted(runs[label])[1]
    peak = max(rss for _, _, rss in runs[label])
    ratio = "" if label == commands[0][0] else "%.2f" % (wall / baseline)
    print("%-48s %8.2f %6.2f %8.0f %8s" % (f"{label} {name}", wall, cores, peak, ratio))
PY
done
echo "(÷ ffmpeg: seconds over FFmpeg's full decode of the same clip in the same rounds; lower is faster)"

# Runs a command 3 times; prints "median_seconds peak_rss_mb".
measure() {
  python3 - "$@" <<'PY'
import resource, statistics, subprocess, sys, time
times = []
for _ in range(3):
    start = time.perf_counter()
    subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("%.3f %.0f" % (statistics.median(times), peak))
PY
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

echo
catalogue="$work/catalogue.sqlite"
rm -rf "$catalogue" "$catalogue"-* "$catalogue".index
"$bin" register -q --catalogue "$catalogue" "$work/part_1.mp4" >/dev/null
read -r one_s one_mb < <(measure "$bin" scan -q --catalogue "$catalogue" --jobs 1 "$work"/part_*.mp4)
read -r two_s two_mb < <(measure "$bin" scan -q --catalogue "$catalogue" --jobs 2 "$work"/part_*.mp4)
printf '%-34s %10s %10s %8s\n' "scan 8 files --jobs 1" "$one_s" "$one_mb" ""
printf '%-34s %10s %10s %8s\n' "scan 8 files --jobs 2" "$two_s" "$two_mb" "$(ratio "$one_s" "$two_s")"
echo "(ratio: jobs 1 ÷ jobs 2, the speed-up)"

if [ -n "${HOURS-x}${LARGE_HOURS-x}" ]; then
  echo
  echo "1-hour query (6 frames/s, 16 probes each) against synthetic catalogues, one process per size;"
  echo "references at 8/s (the default), then at 4/s (register --rate 4: 10,000 h at 8/s would need 26 GB of RAM)"
  swift build -c release --package-path Benchmarks --product IndexScaling >/dev/null
  scaling="$(swift build -c release --package-path Benchmarks --show-bin-path)/IndexScaling"
  "$scaling" 100 direct
  for hours in ${HOURS-100 1000}; do "$scaling" "$hours" seeded 8 6; done
  for hours in ${LARGE_HOURS-1000 10000}; do "$scaling" "$hours" seeded 4 6; done
fi
