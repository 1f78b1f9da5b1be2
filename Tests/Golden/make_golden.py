#!/usr/bin/env python3
"""Regenerates PDQ golden vectors with Meta's reference implementation (PyPI pdqhash 0.2.8 wraps the C++).

    pip install pdqhash==0.2.8 numpy
    python3 Tests/Golden/make_golden.py        # writes Tests/Golden/pdq_golden.json

Two kinds of vector:
  synthetic  grey images defined by an integer formula the Swift tests reproduce exactly, so the
             pure PDQ core must match bit for bit (distance 0 expected);
  media      testmedia images and frames cut from testmedia videos, decoded to RGB by ffmpeg; ClipTrace
             decodes them itself through FFmpeg and must pass PDQ's conformance rule (≤ 10 bits at
             quality ≥ 80).
"""
import json, os, subprocess, sys
import numpy as np
import pdqhash

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Meta's own names, in the order compute_dihedral returns them (hashRotate90 ... hashFlipMinus1 in the C++).
ORIENTATIONS = ["original", "rotate90", "rotate180", "rotate270", "flipX", "flipY", "flipPlus1", "flipMinus1"]


def hex_of(bits):
    # The binding returns the 256 bits most significant first (its element 0 is the C++ Hash256 bit 255).
    bits = [int(b) for b in bits][::-1]
    words = [sum(bits[16 * w + b] << b for b in range(16)) for w in range(16)]
    return "".join("%04x" % words[w] for w in range(15, -1, -1))


def synthetic(kind, width, height):
    """Must match `SyntheticImage.make` in the Swift tests."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    if kind == "ramp":
        v = (x * 7 + y * 13 + (x * y) % 31) % 256
    elif kind == "rings":
        # Off-centre on both axes: a centred pattern is symmetric, half its DCT is ~0 and the bits are noise.
        v = ((x - width // 3) ** 2 + (y - height // 3) ** 2) // 37 % 256
    elif kind == "blocks":
        v = ((x // 24) * 53 + (y // 16) * 97 + (x // 7) * 3) % 256
    else:
        raise ValueError(kind)
    return v.astype(np.uint8)


def probe_size(path):
    out = subprocess.check_output(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                   "stream=width,height", "-of", "csv=p=0", path], text=True)
    w, h = out.strip().split("\n")[0].split(",")[:2]
    return int(w), int(h)


def decode_rgb(path):
    w, h = probe_size(path)
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-i", path, "-frames:v", "1", "-f", "rawvideo",
                                   "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)


def main():
    vectors = {"generator": "pdqhash %s (Meta's C++ PDQ)" % getattr(pdqhash, "__version__", "?"),
               "synthetic": [], "media": []}
    for kind, w, h in [("ramp", 64, 64), ("ramp", 80, 64), ("rings", 320, 240), ("rings", 177, 99),
                       ("blocks", 640, 360), ("blocks", 129, 300), ("ramp", 1000, 700)]:
        gray = synthetic(kind, w, h)
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
        bits, quality = pdqhash.compute(rgb)
        dihedral, _ = pdqhash.compute_dihedral(rgb)
        vectors["synthetic"].append({"kind": kind, "width": w, "height": h, "hash": hex_of(bits),
                                     "quality": int(quality),
                                     "dihedral": {name: hex_of(d) for name, d in zip(ORIENTATIONS, dihedral)}})
    images = sorted(os.listdir(os.path.join(ROOT, "testmedia", "images")))
    for name in images:
        rel = os.path.join("testmedia", "images", name)
        bits, quality = pdqhash.compute(decode_rgb(os.path.join(ROOT, rel)))
        vectors["media"].append({"file": rel, "hash": hex_of(bits), "quality": int(quality)})
    out = os.path.join(os.path.dirname(__file__), "pdq_golden.json")
    with open(out, "w") as f:
        json.dump(vectors, f, indent=1)
        f.write("\n")
    print("wrote %d synthetic and %d media vectors to %s" % (len(vectors["synthetic"]), len(vectors["media"]), out))


if __name__ == "__main__":
    sys.exit(main())
