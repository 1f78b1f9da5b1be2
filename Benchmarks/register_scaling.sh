#!/usr/bin/env bash
# Does a back-catalogue import stay linear? Registers the same 200 short files (3 s of lavfi pictures each,
# cached in $CACHE/register-200) into an empty catalogue and into a copy of the 100-hour catalogue that
# Benchmarks/large_catalogue.sh builds (with its saved index), and prints the ratio.
#
#   Benchmarks/register_scaling.sh [HOURS]        (default 100)
#
# The last line is:  files=200 hours=H empty_s=S large_s=S ratio=R large_peak_rss_mb=M
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:-100}
cache=${CACHE:-/tmp/cliptrace-large}
files="$cache/register-200"
swift build -c release --product cliptrace >/dev/null
bin="$(swift build -c release --show-bin-path)/cliptrace"

mkdir -p "$files"
if [ ! -f "$files/complete" ]; then
  echo "making 200 short clips in $files (once)" >&2
  for i in $(seq 1 200); do
    case $((i % 4)) in
      0) src="cellauto=s=320x240:r=25:rule=$((18 + i % 90)):seed=$i" ;;
      1) src="life=s=320x240:r=25:seed=$i:mold=$((i % 20)):ratio=0.$((1 + i % 8))" ;;
      2) src="mandelbrot=s=320x240:r=25:start_x=-0.$((100 + i))7:start_y=0.$((300 + i))1:start_scale=0.$((i % 9 + 1))" ;;
      3) src="testsrc2=s=320x240:r=25,hue=h=$((i * 7)):s=$((1 + i % 3)),rotate=$((i % 30))*PI/180" ;;
    esac
    ffmpeg -nostdin -loglevel error -y -f lavfi -i "$src" -t 3 -c:v libx264 -preset veryfast -crf 26 \
      -pix_fmt yuv420p -an "$files/clip-$(printf %03d "$i").mp4"
  done
  touch "$files/complete"
fi

large="$cache/catalogue-${hours}h.sqlite"
if [ ! -f "$large.complete" ] || [ ! -d "$large.index" ]; then
  Benchmarks/large_catalogue.sh "$hours" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/register-scaling.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$large" "$work/large.sqlite"
cp -r "$large.index" "$work/large.sqlite.index"
sync

/usr/bin/time -f "%e %M" -o "$work/empty.time" \
  "$bin" register -q --catalogue "$work/empty.sqlite" "$files"/clip-*.mp4 >/dev/null
/usr/bin/time -f "%e %M" -o "$work/large.time" \
  "$bin" register -q --catalogue "$work/large.sqlite" "$files"/clip-*.mp4 >/dev/null
read -r empty_s empty_kb < "$work/empty.time"
read -r large_s large_kb < "$work/large.time"
echo "empty catalogue: ${empty_s} s, peak RSS $((empty_kb / 1024)) MB; ${hours}-hour catalogue: ${large_s} s, peak RSS $((large_kb / 1024)) MB" >&2
python3 -c "import sys; e, l = float(sys.argv[1]), float(sys.argv[2]); print(f'files=200 hours=${hours} empty_s={e:.2f} large_s={l:.2f} ratio={l / e:.2f} large_peak_rss_mb=$((large_kb / 1024))')" \
  "$empty_s" "$large_s"
