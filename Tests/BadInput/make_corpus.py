#!/usr/bin/env python3
"""Builds a corpus of hostile and broken media files from ClipTrace's own testmedia, at test time.

    python3 Tests/BadInput/make_corpus.py OUT_DIR [COUNT] [SEED]

Kinds: truncations at random points, byte flips in headers and payloads, garbage prefixes, zeroed
regions, swapped extensions, text and binary non-media named .mp4, zero-byte files, PNGs declaring
absurd dimensions, a folder named clip.mp4, a symlink loop and a dangling link. Prints one line per file.
Nothing here is committed: it is regenerated from testmedia/ by the tests.
"""
import os, random, struct, sys, zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCES = ["testmedia/references/life_colony.mp4", "testmedia/formats/vp9.webm", "testmedia/formats/mpeg4.avi",
           "testmedia/formats/mpeg2.ts", "testmedia/formats/sorenson.flv", "testmedia/formats/raw.h264",
           "testmedia/formats/odd_177x99.mkv", "testmedia/images/life.png"]


def png_with_size(width, height):
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    os.makedirs(out, exist_ok=True)
    blobs = {s: open(os.path.join(ROOT, s), "rb").read() for s in SOURCES}
    made = []

    def write(name, data):
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        made.append(name)

    # Fixed cases first.
    write("zero_bytes.mp4", b"")
    write("text.mp4", b"This is a text file with a video name.\n" * 20)
    write("binary_noise.mp4", bytes(rng.randrange(256) for _ in range(50_000)))
    write("huge_png.png", png_with_size(100_000, 100_000))
    write("zero_size_png.png", png_with_size(0, 0))
    write("wide_png.png", png_with_size(2 ** 31 - 1, 1))
    os.makedirs(os.path.join(out, "clip.mp4"), exist_ok=True)
    made.append("clip.mp4/")
    for name, target in [("loop_a.mp4", "loop_b.mp4"), ("loop_b.mp4", "loop_a.mp4"), ("dangling.mp4", "nowhere.mp4")]:
        path = os.path.join(out, name)
        if not os.path.lexists(path):
            os.symlink(target, path)
        made.append(name)

    kinds = ["truncate", "flip_header", "flip_payload", "garbage_prefix", "zero_region", "swap_extension"]
    index = 0
    while len(made) < count:
        source = rng.choice(SOURCES)
        data = bytearray(blobs[source])
        kind = kinds[index % len(kinds)]
        ext = os.path.splitext(source)[1]
        if kind == "truncate":
            data = data[: rng.randrange(1, len(data))]
        elif kind == "flip_header":
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(min(len(data), 4096))] ^= 1 << rng.randrange(8)
        elif kind == "flip_payload":
            for _ in range(rng.randrange(1, 200)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == "garbage_prefix":
            data = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 5000))) + data
        elif kind == "zero_region":
            start = rng.randrange(len(data))
            end = min(len(data), start + rng.randrange(1, 20_000))
            data[start:end] = bytes(end - start)
        elif kind == "swap_extension":
            ext = rng.choice([".mp4", ".mkv", ".avi", ".webm", ".ts", ".flv", ".png", ".mov"])
        write("%03d_%s_%s%s" % (index, kind, os.path.splitext(os.path.basename(source))[0], ext), bytes(data))
        index += 1
    for name in made:
        print(name)


if __name__ == "__main__":
    main()
