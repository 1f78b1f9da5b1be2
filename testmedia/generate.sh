#!/usr/bin/env bash
# Regenerates ClipTrace's test media from FFmpeg's synthetic (lavfi) sources. No third-party media.
#
#   testmedia/generate.sh            # writes into testmedia/
#   testmedia/generate.sh OUT_DIR    # writes elsewhere
#
# References (registered in the demo and the tests) and "recordings" that contain transformed copies
# of them at known times, plus clips in many codecs/containers and broken files for the decoder tests.
# The exact ground truth of each recording is in recordings.tsv.
set -euo pipefail
out=${1:-$(cd "$(dirname "$0")" && pwd)}
mkdir -p "$out/references" "$out/recordings" "$out/formats" "$out/images" "$out/bad"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
x264=(-c:v libx264 -preset veryfast -crf 26 -pix_fmt yuv420p -movflags +faststart)

# --- References: 10-12 s each, distinct and changing over time ------------------------------------
ff -f lavfi -i "mandelbrot=size=320x240:rate=25:start_scale=3:end_scale=0.05:inner=mincol,format=yuv420p" \
   -t 12 "${x264[@]}" "$out/references/mandelbrot_zoom.mp4"
ff -f lavfi -i "testsrc2=size=320x240:rate=25,hue=H=0.6*t:s=1.2,rotate=0.25*t:fillcolor=0x203040" \
   -t 10 "${x264[@]}" "$out/references/spinning_pattern.mp4"
ff -f lavfi -i "life=size=320x240:rate=25:seed=7:ratio=0.4:mold=20:life_color=#ffd070:death_color=#102040:mold_color=#6030a0,gblur=sigma=2,scale=320:240" \
   -t 10 "${x264[@]}" "$out/references/life_colony.mp4"

# --- Fillers that never appear in a reference --------------------------------------------------------
filler_a="cellauto=size=320x240:rate=25:rule=30:seed=3,gblur=sigma=1.5,format=yuv420p"
filler_b="life=size=320x240:rate=25:seed=99:ratio=0.6:mold=5:life_color=#40ff80:death_color=#401010,gblur=sigma=2,format=yuv420p"

# --- Recordings --------------------------------------------------------------------------------------
# mirrored + letterboxed copy of mandelbrot_zoom 2.0–9.0 s inside fillers, at query 4.0–11.0 s.
ff -f lavfi -i "$filler_a" -i "$out/references/mandelbrot_zoom.mp4" -f lavfi -i "$filler_b" -filter_complex \
  "[0:v]trim=0:4,setpts=PTS-STARTPTS,scale=320:240,setsar=1[a];\
   [1:v]trim=2:9,setpts=PTS-STARTPTS,hflip,scale=320:180,pad=320:240:0:30:black,setsar=1[b];\
   [2:v]trim=0:3,setpts=PTS-STARTPTS,scale=320:240,setsar=1[c];\
   [a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v]" -map "[v]" -r 25 "${x264[@]}" -crf 30 \
   "$out/recordings/stream_with_mirrored_copy.mp4"
# sped-up (1.1×) copy of spinning_pattern 1.0–8.7 s with a price-tag overlay, at query 3.0–10.0 s.
ff -f lavfi -i "$filler_b" -i "$out/references/spinning_pattern.mp4" -filter_complex \
  "[0:v]trim=0:3,setpts=PTS-STARTPTS,setsar=1[a];\
   [1:v]trim=1:8.7,setpts=(PTS-STARTPTS)/1.1,fps=25,drawbox=x=200:y=170:w=110:h=60:color=red@0.9:t=fill,setsar=1[b];\
   [a][b]concat=n=2:v=1:a=0,format=yuv420p[v]" -map "[v]" -r 25 "${x264[@]}" \
   "$out/recordings/stream_with_fast_copy.mp4"
# picture-in-picture: life_colony 2.0–9.0 s scaled into a 400×300 window (52 % of the screen) at the top left
# of a streamer's 640×360 layout, beside a camera tile, at query 2.0–9.0 s.
ff -f lavfi -i "color=c=0x303848:size=640x360:rate=25,drawbox=x=0:y=320:w=640:h=40:color=0x101018:t=fill" \
   -i "$out/references/life_colony.mp4" \
   -f lavfi -i "life=size=200x150:rate=25:seed=99:ratio=0.6:mold=5:life_color=#40ff80:death_color=#401010,gblur=sigma=2" \
   -filter_complex "[1:v]trim=2:9,setpts=PTS-STARTPTS+2/TB,scale=400:300,setsar=1[w];\
   [0:v][w]overlay=x=16:y=12:enable='between(t,2,9)'[bg];[bg][2:v]overlay=x=430:y=20[v]" \
   -map "[v]" -t 11 "${x264[@]}" "$out/recordings/stream_with_window_copy.mp4"
# overlays covering about a fifth of the picture: a red banner over the top 17 % and a translucent comment strip
# near the bottom (12 %), on mandelbrot_zoom 3.0–10.0 s at query 2.0–9.0 s.
ff -f lavfi -i "$filler_b" -i "$out/references/mandelbrot_zoom.mp4" -f lavfi -i "$filler_a" -filter_complex \
  "[0:v]trim=0:2,setpts=PTS-STARTPTS,setsar=1[a];\
   [1:v]trim=3:10,setpts=PTS-STARTPTS,drawbox=x=0:y=0:w=320:h=40:color=red@0.85:t=fill,\
   drawbox=x=16:y=196:w=288:h=30:color=black@0.55:t=fill,drawbox=x=24:y=204:w=200:h=6:color=white@0.9:t=fill,\
   drawbox=x=24:y=214:w=150:h=6:color=white@0.9:t=fill,setsar=1[b];\
   [2:v]trim=0:3,setpts=PTS-STARTPTS,setsar=1[c];\
   [a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v]" -map "[v]" -r 25 "${x264[@]}" \
   "$out/recordings/stream_with_overlaid_copy.mp4"
# picture-in-picture on a moving, high-texture backdrop (a cellular automaton, no flat border around the window):
# spinning_pattern 1.0–8.0 s in a 360×270 window (42 % of 640×360) at query 1.5–8.5 s.
ff -f lavfi -i "cellauto=size=640x360:rate=25:rule=110:seed=5,format=yuv420p" \
   -i "$out/references/spinning_pattern.mp4" \
   -filter_complex "[1:v]trim=1:8,setpts=PTS-STARTPTS+1.5/TB,scale=360:270,setsar=1[w];\
   [0:v][w]overlay=x=240:y=50:enable='between(t,1.5,8.5)'[v]" \
   -map "[v]" -t 10 "${x264[@]}" "$out/recordings/stream_with_window_on_texture.mp4"
# cropped: spinning_pattern 1.0–8.0 s cut to 82 % × 85 % off centre (right, upper third) and stretched back to
# 16:9, at query 2.0–9.0 s. Every whole-frame hash moves; corners (local features) move with the content.
ff -f lavfi -i "$filler_a" -i "$out/references/spinning_pattern.mp4" -f lavfi -i "$filler_b" -filter_complex \
  "[0:v]trim=0:2,setpts=PTS-STARTPTS,scale=320:180,setsar=1[a];\
   [1:v]trim=1:8,setpts=PTS-STARTPTS,crop=iw*0.82:ih*0.85:(iw-ow)*0.8:(ih-oh)*0.3,scale=320:180,setsar=1[b];\
   [2:v]trim=0:3,setpts=PTS-STARTPTS,scale=320:180,setsar=1[c];\
   [a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v]" -map "[v]" -r 25 "${x264[@]}" \
   "$out/recordings/stream_with_cropped_copy.mp4"
# a vertical repost: spinning_pattern 2.0–8.0 s fitted into a 180×320 (9:16) frame over a blurred, darkened,
# enlarged copy of itself, at query 1.0–7.0 s.
ff -f lavfi -i "$filler_b" -i "$out/references/spinning_pattern.mp4" -filter_complex \
  "[0:v]trim=0:1,setpts=PTS-STARTPTS,scale=180:320,setsar=1[a];\
   [1:v]trim=2:8,setpts=PTS-STARTPTS,split[s1][s2];[s1]scale=427:320,crop=180:320,gblur=sigma=12,eq=brightness=-0.1[bg];\
   [s2]scale=180:135[fg];[bg][fg]overlay=0:92,setsar=1[b];\
   [a][b]concat=n=2:v=1:a=0,format=yuv420p[v]" -map "[v]" -r 25 "${x264[@]}" \
   "$out/recordings/stream_with_vertical_repost.mp4"
# a streamer's face-cam (a 96×72 box with a white outline, 30 % of the width) over the bottom-right corner of
# mandelbrot_zoom 1.0–9.0 s, at query 2.0–10.0 s.
ff -f lavfi -i "$filler_a" -i "$out/references/mandelbrot_zoom.mp4" \
   -f lavfi -i "life=size=96x72:rate=25:seed=5:ratio=0.5:life_color=#e0c0a0:death_color=#304050" -filter_complex \
  "[0:v]trim=0:2,setpts=PTS-STARTPTS,setsar=1[a];\
   [1:v]trim=1:9,setpts=PTS-STARTPTS,setsar=1[c];[2:v]drawbox=x=0:y=0:w=96:h=72:color=white:t=2[cam];\
   [c][cam]overlay=x=216:y=160:shortest=1,setsar=1[b];\
   [a][b]concat=n=2:v=1:a=0,format=yuv420p[v]" -map "[v]" -r 25 "${x264[@]}" \
   "$out/recordings/stream_with_webcam_inset.mp4"
# tilted by 6° (black corners, as a camera filming a screen): mandelbrot_zoom 3.0–10.0 s at query 2.0–9.0 s.
ff -f lavfi -i "$filler_b" -i "$out/references/mandelbrot_zoom.mp4" -filter_complex \
  "[0:v]trim=0:2,setpts=PTS-STARTPTS,setsar=1[a];\
   [1:v]trim=3:10,setpts=PTS-STARTPTS,rotate=6*PI/180:fillcolor=black,setsar=1[b];\
   [a][b]concat=n=2:v=1:a=0,format=yuv420p[v]" -map "[v]" -r 25 "${x264[@]}" \
   "$out/recordings/stream_with_tilted_copy.mp4"
# cropped heavily (72 % × 75 %, off centre, stretched back) and dropped to 12 fps: spinning_pattern 1.0–8.0 s at
# query 1.5–8.5 s.
ff -f lavfi -i "$filler_a" -i "$out/references/spinning_pattern.mp4" -filter_complex \
  "[0:v]trim=0:1.5,setpts=PTS-STARTPTS,setsar=1[a];\
   [1:v]trim=1:8,setpts=PTS-STARTPTS,crop=iw*0.72:ih*0.75:(iw-ow)*0.3:(ih-oh)*0.6,scale=320:240,setsar=1[b];\
   [a][b]concat=n=2:v=1:a=0,fps=12,format=yuv420p[v]" -map "[v]" "${x264[@]}" \
   "$out/recordings/stream_with_heavy_crop_12fps.mp4"
# a compilation: spinning_pattern 1.0–4.0 s at query 1.0–4.0 s, 2 s of filler, mandelbrot_zoom 6.0–10.0 s at
# query 6.0–10.0 s.
ff -f lavfi -i "$filler_a" -i "$out/references/spinning_pattern.mp4" -i "$out/references/mandelbrot_zoom.mp4" \
   -f lavfi -i "$filler_b" -filter_complex \
  "[0:v]trim=0:1,setpts=PTS-STARTPTS,setsar=1[a];[1:v]trim=1:4,setpts=PTS-STARTPTS,setsar=1[b];\
   [3:v]trim=0:2,setpts=PTS-STARTPTS,setsar=1[c];[2:v]trim=6:10,setpts=PTS-STARTPTS,setsar=1[d];\
   [a][b][c][d]concat=n=4:v=1:a=0,format=yuv420p[v]" -map "[v]" -r 25 "${x264[@]}" \
   "$out/recordings/stream_with_compilation.mp4"
# no registered content at all.
ff -f lavfi -i "$filler_a" -f lavfi -i "$filler_b" -filter_complex \
  "[0:v]trim=0:5,setpts=PTS-STARTPTS[a];[1:v]trim=0:5,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1:a=0[v]" \
  -map "[v]" "${x264[@]}" "$out/recordings/stream_without_copies.mp4"
printf 'recording\treference\tquery_start\tquery_end\treference_start\treference_end\ttransforms\n' > "$out/recordings.tsv"
printf 'stream_with_mirrored_copy\tmandelbrot_zoom\t4.0\t11.0\t2.0\t9.0\thflip,letterbox,crf30\n' >> "$out/recordings.tsv"
printf 'stream_with_fast_copy\tspinning_pattern\t3.0\t10.0\t1.0\t8.7\tspeed1.1,overlay\n' >> "$out/recordings.tsv"
printf 'stream_with_window_copy\tlife_colony\t2.0\t9.0\t2.0\t9.0\tpip,scale1.25\n' >> "$out/recordings.tsv"
printf 'stream_with_overlaid_copy\tmandelbrot_zoom\t2.0\t9.0\t3.0\t10.0\tbanner,comments\n' >> "$out/recordings.tsv"
printf 'stream_with_window_on_texture\tspinning_pattern\t1.5\t8.5\t1.0\t8.0\tpip,textured-backdrop\n' >> "$out/recordings.tsv"
printf 'stream_with_cropped_copy\tspinning_pattern\t2.0\t9.0\t1.0\t8.0\tcrop82x85,stretch16:9\n' >> "$out/recordings.tsv"
printf 'stream_with_vertical_repost\tspinning_pattern\t1.0\t7.0\t2.0\t8.0\tblurfill9:16\n' >> "$out/recordings.tsv"
printf 'stream_with_webcam_inset\tmandelbrot_zoom\t2.0\t10.0\t1.0\t9.0\twebcam_inset30%%\n' >> "$out/recordings.tsv"
printf 'stream_with_tilted_copy\tmandelbrot_zoom\t2.0\t9.0\t3.0\t10.0\ttilt6\n' >> "$out/recordings.tsv"
printf 'stream_with_heavy_crop_12fps\tspinning_pattern\t1.5\t8.5\t1.0\t8.0\tcrop72x75,fps12\n' >> "$out/recordings.tsv"
printf 'stream_with_compilation\tspinning_pattern\t1.0\t4.0\t1.0\t4.0\tcompilation\n' >> "$out/recordings.tsv"
printf 'stream_with_compilation\tmandelbrot_zoom\t6.0\t10.0\t6.0\t10.0\tcompilation\n' >> "$out/recordings.tsv"

# --- Codecs and containers (2 s each) -----------------------------------------------------------------
src="mandelbrot=size=320x240:rate=25:start_scale=2:end_scale=0.5"
small="mandelbrot=size=160x120:rate=25:start_scale=2:end_scale=0.5"
ff -f lavfi -i "$src" -t 2 -c:v libvpx-vp9 -b:v 200k -pix_fmt yuv420p "$out/formats/vp9.webm"
ff -f lavfi -i "$src" -t 2 -c:v mpeg4 -q:v 5 "$out/formats/mpeg4.avi"
ff -f lavfi -i "$small" -t 1 -c:v ffv1 "$out/formats/ffv1.mkv"
ff -f lavfi -i "$src" -t 2 -c:v mpeg2video -q:v 5 "$out/formats/mpeg2.ts"
ff -f lavfi -i "$src" -t 2 -c:v flv "$out/formats/sorenson.flv"
ff -f lavfi -i "$small" -t 1 -c:v mjpeg -q:v 8 "$out/formats/mjpeg.mov"
ff -f lavfi -i "$src" -t 2 -c:v libx264 -preset veryfast -bsf:v h264_mp4toannexb -f h264 "$out/formats/raw.h264"
# odd size, not a multiple of 2 or 16
ff -f lavfi -i "testsrc2=size=177x99:rate=30" -t 2 -c:v libx264 -preset veryfast -pix_fmt yuv444p "$out/formats/odd_177x99.mkv"
# variable frame rate: 10 fps for 1 s, then 30 fps for 1 s
ff -f lavfi -i "testsrc2=size=320x240:rate=10" -f lavfi -i "testsrc2=size=320x240:rate=30" -filter_complex \
  "[0:v]trim=0:1,setpts=PTS-STARTPTS[a];[1:v]trim=1:2,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1:a=0[v]" \
  -map "[v]" -fps_mode vfr -c:v libx264 -preset veryfast "$out/formats/vfr.mp4"
# phone-style portrait recording stored landscape with a 90° display matrix
# (FFmpeg 5.1 writes the rotate tag as a display matrix only when stream-copying.)
ff -f lavfi -i "testsrc2=size=320x180:rate=30" -t 2 -c:v libx264 -preset veryfast "$out/formats/rotated90.tmp.mp4"
ff -i "$out/formats/rotated90.tmp.mp4" -c copy -metadata:s:v:0 rotate=90 "$out/formats/rotated90.mp4"
rm -f "$out/formats/rotated90.tmp.mp4"
# audio only
ff -f lavfi -i "sine=frequency=440:duration=2" -c:a aac "$out/formats/audio_only.m4a"

# --- Still images (for PDQ conformance) --------------------------------------------------------------
ff -f lavfi -i "mandelbrot=size=640x480:start_scale=1.5" -frames:v 1 "$out/images/mandelbrot.png"
ff -f lavfi -i "testsrc2=size=500x375" -frames:v 1 -q:v 3 "$out/images/testsrc.jpg"
ff -f lavfi -i "smptehdbars=size=400x300" -frames:v 1 "$out/images/bars.webp"
ff -f lavfi -i "life=size=300x300:seed=5:ratio=0.5,gblur=sigma=3" -frames:v 1 "$out/images/life.png"
ff -f lavfi -i "color=c=gray:size=200x200" -frames:v 1 "$out/images/flat_gray.png"
for t in 1 5 9; do
  ff -ss $t -i "$out/references/mandelbrot_zoom.mp4" -frames:v 1 "$out/images/mandelbrot_zoom_t$t.png"
  ff -ss $t -i "$out/references/spinning_pattern.mp4" -frames:v 1 "$out/images/spinning_pattern_t$t.png"
done

# --- Broken files -------------------------------------------------------------------------------------
: > "$out/bad/empty.mp4"
echo "This is not a video, it is a text file with a video name." > "$out/bad/text.mp4"
head -c 3000 "$out/references/spinning_pattern.mp4" > "$out/bad/truncated_header.mp4"
size=$(stat -c %s "$out/references/life_colony.mp4")
head -c $((size / 2)) "$out/references/life_colony.mp4" > "$out/bad/truncated_half.mp4"
# corrupt packets in the middle of an MPEG-TS (no index to break): overwrite payload bytes
cp "$out/formats/mpeg2.ts" "$out/bad/corrupt_packets.ts"
python3 - "$out/bad/corrupt_packets.ts" <<'PY'
import sys, random
path = sys.argv[1]
data = bytearray(open(path, 'rb').read())
rng = random.Random(1)
for offset in range(len(data) // 3, 2 * len(data) // 3, 997):
    for k in range(40):
        if offset + k < len(data) and (offset + k) % 188 > 4:  # keep TS sync bytes so the demuxer resyncs
            data[offset + k] = rng.randrange(256)
open(path, 'wb').write(bytes(data))
PY
echo "testmedia written to $out ($(du -sh "$out" | cut -f1))"
