#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture of a real HTML report: registers the testmedia references,
# scans the testmedia recordings with --format html, and photographs the page with headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build --show-bin-path)/cliptrace"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" register --quiet --catalogue "$work/catalogue.sqlite" --owner "Lan's Shop" testmedia/references/*.mp4 >/dev/null
"$bin" scan --quiet --catalogue "$work/catalogue.sqlite" --format html --output "$work/report.html" testmedia/recordings
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,1250 \
  --screenshot="$work/full.png" "file://$work/report.html" 2>/dev/null
# A 128-colour palette keeps the committed PNG small.
ffmpeg -v error -y -i "$work/full.png" \
  -vf "scale=720:-1:flags=lanczos,split[a][b];[a]palettegen=max_colors=128[p];[b][p]paletteuse=dither=sierra2_4a" \
  docs/report.png
echo "wrote docs/report.png ($(stat -c %s docs/report.png) bytes)"
