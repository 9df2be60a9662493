#!/usr/bin/env python3
"""Reads a run's TensorBoard log with the `tensorboard` package's own event reader and
prints every scalar series, the text and image tags, so a run can be checked without
starting the server:

    pip install tensorboard
    python3 scripts/tensorboard_check.py runs/lm-20261206-101500

With --json it prints one JSON object ({"scalars": {tag: [[step, value], ...]}, "text": [...],
"images": [...]}). It exits non-zero if the folder has no scalars.
"""

import argparse
import json
import os
import sys

from tensorboard.backend.event_processing import event_accumulator


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run directory (its tensorboard/ folder is read)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    logdir = os.path.join(a.run, "tensorboard")
    if not os.path.isdir(logdir):
        logdir = a.run
    acc = event_accumulator.EventAccumulator(
        logdir, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0,
                               event_accumulator.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in sorted(tags["scalars"])}
    text = sorted(t for t in tags.get("tensors", []))
    images = sorted(tags.get("images", []))
    if a.json:
        print(json.dumps({"scalars": scalars, "text": text, "images": images}))
    else:
        for t, pts in scalars.items():
            last = pts[-1]
            print(f"{t:40s} {len(pts):5d} points, last step {last[0]}: {last[1]:.6g}")
        print("text:", ", ".join(text) or "-")
        print("images:", ", ".join(images) or "-")
    if not scalars:
        print(f"{logdir}: no scalars", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
