#!/usr/bin/env bash
# Speed ratios of ClipTrace against FFmpeg's own decode, measured in one run on this machine.
#
#   Benchmarks/ratios.sh [WORK_DIR]      (default /tmp/cliptrace-ratios; clips are generated once and reused)
#
# Prints, for 60 s 1080p and 720p H.264 clips with B-frames:
#   cliptrace fingerprint time ÷ `ffmpeg -threads 2 -i clip -f null -` time, and peak RSS of each;
# `cliptrace scan --jobs 2` ÷ `--jobs 1` on 8 files; `scan --fast` (keyframes only) ÷ `scan`;
# and a 1-hour query against synthetic catalogues of 100, 1,000 and 10,000 hours (IndexScaling: build time,
# index bytes per frame, query time, planted copies found, peak RSS; HOURS and LARGE_HOURS choose the sizes
# at 8 and 4 reference frames per second, e.g. LARGE_HOURS=1000 to skip the largest).
# Each timing is the median of 3 runs.
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

# Runs a command 3 times; prints "median_seconds peak_rss_mb".
measure() {
  python3 - "$@" <<'PY'
import resource, statistics, subprocess, sys, time
times, peak = [], 0
for _ in range(3):
    start = time.perf_counter()
    subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("%.3f %.0f" % (statistics.median(times), peak))
PY
}

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
printf '%-34s %10s %10s %8s\n' "measurement" "seconds" "peak MB" "ratio"
for size in 1920x1080 1280x720; do
  clip="$work/clip_${size}.mp4"
  read -r ffmpeg_s ffmpeg_mb < <(measure ffmpeg -nostdin -v error -threads 2 -i "$clip" -f null -)
  read -r ct_s ct_mb < <(measure "$bin" fingerprint -q -o /dev/null "$clip")
  printf '%-34s %10s %10s %8s\n' "ffmpeg -threads 2 decode $size" "$ffmpeg_s" "$ffmpeg_mb" ""
  printf '%-34s %10s %10s %8s\n' "cliptrace fingerprint $size" "$ct_s" "$ct_mb" "$(ratio "$ct_s" "$ffmpeg_s")"
done

catalogue="$work/catalogue.sqlite"
rm -f "$catalogue"*
"$bin" register -q --catalogue "$catalogue" "$work/part_1.mp4" >/dev/null
read -r one_s one_mb < <(measure "$bin" scan -q --catalogue "$catalogue" --jobs 1 "$work"/part_*.mp4)
read -r two_s two_mb < <(measure "$bin" scan -q --catalogue "$catalogue" --jobs 2 "$work"/part_*.mp4)
printf '%-34s %10s %10s %8s\n' "scan 8 files --jobs 1" "$one_s" "$one_mb" ""
printf '%-34s %10s %10s %8s\n' "scan 8 files --jobs 2" "$two_s" "$two_mb" "$(ratio "$one_s" "$two_s")"
echo "(ratio: fingerprint ÷ ffmpeg decode, lower is faster; scan: jobs 1 ÷ jobs 2, the speed-up)"

echo
echo "1-hour query (6 frames/s, 16 probes each) against synthetic catalogues, one process per size;"
echo "references at 8/s (the default), then at 4/s (register --rate 4: 10,000 h at 8/s would need 26 GB of RAM)"
swift build -c release --package-path Benchmarks --product IndexScaling >/dev/null
scaling="$(swift build -c release --package-path Benchmarks --show-bin-path)/IndexScaling"
"$scaling" 100 direct
for hours in ${HOURS:-100 1000}; do "$scaling" "$hours" seeded 8 6; done
for hours in ${LARGE_HOURS:-1000 10000}; do "$scaling" "$hours" seeded 4 6; done
