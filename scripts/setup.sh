#!/usr/bin/env bash
# Installs what ClipTrace needs on Debian/Ubuntu, only where it is missing:
# FFmpeg's development libraries (the decoder links them), pkg-config, the ffmpeg tool (testmedia),
# and python3 (a few tests use its sqlite3 module to fake foreign databases).
# With --for-tests also headless Chromium, which renders the HTML report in a test, and PostgreSQL's server,
# which the tests start on their own (a throwaway cluster in a temporary folder).
set -euo pipefail
packages=(libavformat-dev libavcodec-dev libswscale-dev libavutil-dev pkg-config ffmpeg python3)
if [ "${1:-}" = "--for-tests" ]; then packages+=(chromium postgresql); fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: Swift 6.1 or newer is required (https://swift.org/install)" >&2; exit 1; }
