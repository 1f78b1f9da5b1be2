#!/usr/bin/env python3
"""Run Meta's vPDQ (PyPI package `vpdq`) on the ClipTrace evaluation corpus.

Hashes every catalogue clip and every query with `vpdq.computeHash` at its
default rate (one PDQ hash per second of video, original frame size), then
compares every query with every catalogue clip using vPDQ's matching rule:

  * drop frames with quality < 50, then keep one frame per distinct hash;
  * a frame matches if some frame of the other video is within Hamming
    distance 31 (`<=`, as in the vPDQ README and python-threatexchange);
  * query% = share of the query's frames matched,
    compared% = share of the catalogue clip's frames matched.

The vpdq wheel has no matcher of its own, and Meta's rules disagree about
which side must reach 80 %, so `--rule` chooses (default `max`):

  max       max(query%, compared%) >= 80   (threatexchange VideoVPDQSignal)
  query     query% >= 80, compared% >= 0   (threatexchange VPDQSignal/VPDQIndex)
  compared  compared% >= 80, query% >= 0   (vpdq README: P_c = 80 %, P_q = 0 %)

The score is the percentage the rule thresholds, divided by 100. vPDQ gives no
times, so the predictions count at the video level only.

Outputs in --out:
  predictions.jsonl  only the pairs that vPDQ calls a match
  all_pairs.jsonl    every (query, catalogue clip) pair with its raw score,
                     so a threshold-free AP is meaningful
  timings.json       hashing and matching seconds

Hashes are cached as JSON in --cache. Delete the cache to time hashing again.

Usage (needs `pip install vpdq==0.2.5` and the FFmpeg -dev packages to build it):
  python3 Benchmarks/peers/vpdq_eval.py --corpus /tmp/cliptrace-eval/public --out /tmp/vpdq-run
  python3 ../shared/eval/score.py --gt /tmp/cliptrace-eval/public \
      --results /tmp/vpdq-run/predictions.jsonl --threshold 0.5
"""

import argparse
import json
import os
import time
from importlib.metadata import version
from pathlib import Path

import vpdq

DISTANCE = 31      # max Hamming distance for two frames to match
QUALITY = 50       # frames below this PDQ quality are ignored
MATCH_PCT = 80.0   # match-percentage threshold of the rule


def load_hashes(video: Path, cache: Path, seconds_per_hash: float, threads: int):
    """Return ([(hash int, quality)], seconds spent hashing, 0 if cached)."""
    st = video.stat()
    key = f"{video.stem}-{st.st_size}-{int(st.st_mtime)}-{seconds_per_hash}.json"
    path = cache / key
    if path.exists():
        feats = json.loads(path.read_text())
        spent = 0.0
    else:
        t0 = time.perf_counter()
        raw = vpdq.computeHash(str(video), seconds_per_hash=seconds_per_hash,
                               thread_count=threads)
        spent = time.perf_counter() - t0
        feats = [[f.hex, f.quality, f.timestamp] for f in raw]
        path.write_text(json.dumps(feats))
    return [(int(h, 16), q) for h, q, _ in feats], spent


def prepare(feats):
    """Drop low-quality frames, keep distinct hashes (in order)."""
    return list(dict.fromkeys(h for h, q in feats if q >= QUALITY))


def share_matched(a, b):
    """Percentage of hashes in a with a hash in b at distance <= DISTANCE."""
    if not a or not b:
        return 0.0
    hits = sum(any((x ^ y).bit_count() <= DISTANCE for y in b) for x in a)
    return 100.0 * hits / len(a)


def decide(rule, q_pct, c_pct):
    """(is_match, score in 0..1) under the chosen vPDQ rule."""
    pct = {"max": max(q_pct, c_pct), "query": q_pct, "compared": c_pct}[rule]
    return pct >= MATCH_PCT, pct / 100.0


def hash_all(names, folder, cache, args):
    hashes, spent = {}, 0.0
    for name in names:
        hashes[name], s = load_hashes(folder / f"{name}.mp4", cache,
                                      args.seconds_per_hash, args.threads)
        spent += s
    return hashes, spent


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, type=Path,
                    help="split dir with catalogue/, queries/, catalogue.txt, queries.txt")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--cache", default=Path("/tmp/vpdq-cache"), type=Path)
    ap.add_argument("--rule", choices=["max", "query", "compared"], default="max")
    ap.add_argument("--seconds-per-hash", type=float, default=1.0,
                    help="vpdq default 1.0 (0 = every frame)")
    ap.add_argument("--threads", type=int, default=1,
                    help="vpdq hashing threads (0 = vpdq chooses)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)

    def names(f):
        return (args.corpus / f).read_text().split()

    refs, ref_s = hash_all(names("catalogue.txt"), args.corpus / "catalogue", args.cache, args)
    queries, query_s = hash_all(names("queries.txt"), args.corpus / "queries", args.cache, args)
    print(f"vpdq {version('vpdq')}: {args.seconds_per_hash} s per hash, {args.threads} thread(s)")
    print(f"hashing: catalogue {len(refs)} clips {ref_s:.1f} s, "
          f"queries {len(queries)} {query_s:.1f} s (0 s = cached)")

    t0 = time.perf_counter()
    refs = {r: prepare(f) for r, f in refs.items()}
    matches = 0
    with open(args.out / "predictions.jsonl", "w") as pred, \
         open(args.out / "all_pairs.jsonl", "w") as every:
        for q, feats in queries.items():
            qh = prepare(feats)
            for r, rh in refs.items():
                q_pct, c_pct = share_matched(qh, rh), share_matched(rh, qh)
                is_match, score = decide(args.rule, q_pct, c_pct)
                row = json.dumps({"query": q, "ref": r, "score": round(score, 6),
                                  "query_match_pct": round(q_pct, 2),
                                  "compared_match_pct": round(c_pct, 2)})
                every.write(row + "\n")
                if is_match:
                    pred.write(row + "\n")
                    matches += 1
    match_s = time.perf_counter() - t0
    print(f"matching: {len(queries) * len(refs)} pairs {match_s:.2f} s, "
          f"{matches} matches (rule {args.rule}, >= {MATCH_PCT:g} %)")
    (args.out / "timings.json").write_text(json.dumps(
        {"vpdq": version("vpdq"), "seconds_per_hash": args.seconds_per_hash,
         "threads": args.threads, "rule": args.rule, "hash_catalogue_s": round(ref_s, 3),
         "hash_queries_s": round(query_s, 3), "match_s": round(match_s, 3)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
