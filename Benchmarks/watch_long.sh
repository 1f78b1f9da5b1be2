#!/usr/bin/env bash
# Does `cliptrace watch` stay flat on a long stream? Feeds MINUTES of stream (testmedia's mirrored-copy
# recording looped: a copy every 12 s) faster than real time through standard input, and reports peak memory,
# memory at the start and end, the cost per second of stream, and the matches seen.
#
#   Benchmarks/watch_long.sh [MINUTES]        (default 120)
#
# The last line is:  stream_minutes=M wall_s=S seconds_per_stream_second=R peak_rss_mb=P rss_first_min_mb=A rss_last_min_mb=B matches=K
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-120}
swift build -c release --product cliptrace >/dev/null
bin="$(swift build -c release --show-bin-path)/cliptrace"
work=$(mktemp -d "${TMPDIR:-/tmp}/watch-long.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$bin" register -q --catalogue "$work/catalogue.sqlite" testmedia/references/*.mp4 >/dev/null
ffmpeg -nostdin -loglevel error -stream_loop -1 -i testmedia/recordings/stream_with_mirrored_copy.mp4 \
  -t $((minutes * 60)) -c:v libx264 -preset ultrafast -g 12 -bf 0 -f mpegts - |
  TRACE="$work/trace.txt" Benchmarks/peak_memory.py "$work/memory.txt" \
    "$bin" watch -q --catalogue "$work/catalogue.sqlite" - > "$work/events.jsonl"
python3 - "$minutes" "$work/memory.txt" "$work/trace.txt" "$work/events.jsonl" <<'PY'
import json, sys
minutes, memory, trace, events = int(sys.argv[1]), open(sys.argv[2]).read(), sys.argv[3], sys.argv[4]
fields = dict(item.split("=") for item in memory.split())
samples = [tuple(map(float, line.split())) for line in open(trace) if line.strip()]
wall = float(fields["wall_s"])
first = max((rss for t, rss in samples if t <= 60), default=0)
last = max((rss for t, rss in samples if t >= samples[-1][0] - 60), default=0)
kinds = [json.loads(line)["event"] for line in open(events) if line.strip()]
print(f"events: {len(kinds)}, match_started {kinds.count('match_started')}, match_ended {kinds.count('match_ended')}")
print(f"stream_minutes={minutes} wall_s={wall:.1f} seconds_per_stream_second={wall / (minutes * 60):.4f} "
      f"peak_rss_mb={fields['peak_rss_mb']} rss_first_min_mb={first / 1024:.0f} rss_last_min_mb={last / 1024:.0f} "
      f"matches={kinds.count('match_ended')}")
PY
